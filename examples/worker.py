"""worker.py - an example worker for thaw run (Python + torch).

    thaw run -- /usr/bin/python3 examples/worker.py

The snap=True method imports torch, builds a small MLP and warms it up: that
happens once, and every later start is restored from the snapshot taken right
after it.  The snap=False method opens the worker's output, on every start.
make demo and make bench (bench/run.py) time it, cold against restored.
"""
import sys
import time

import thaw

T0 = time.time()


@thaw.main
class Worker:
    @thaw.enter(snap=True)
    def load(self):
        import torch
        torch.manual_seed(0)
        self.torch = torch
        self.model = torch.nn.Sequential(
            torch.nn.Linear(512, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10))
        with torch.no_grad():
            for _ in range(20):
                self.model(torch.randn(64, 512))
        self.probe = torch.ones(1, 512)
        # On a GPU the caching allocator's free blocks are not worth saving: give them
        # back to the driver just before the snapshot (a no-op without CUDA).
        thaw.gpu.before_snapshot(thaw.gpu.release_torch_cache)

    @thaw.enter()  # snap=False, the default: on every start, after the snapshot point
    def open_output(self):
        self.out = sys.stdout

    def run(self):
        with self.torch.no_grad():
            y = self.model(self.probe)
        print("ready: output[0] = %.6f" % float(y[0, 0]), file=self.out, flush=True)
