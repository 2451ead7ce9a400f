#!/usr/bin/python3
"""torch_worker.py - reference workload A: a Python inference worker.

    /usr/bin/python3 torch_worker.py [--serve]

Imports torch and numpy, builds a small MLP with a fixed seed, warms it up,
computes a reference output and starts a counting Python thread, then prints
READY.  On SIGUSR1 it recomputes the output and compares it bit for bit with
the reference (torch.equal), checks the thread is alive and still counting and
that numpy still works, prints PASS or FAIL lines and exits 0 or 1.

With --serve it then reads lines from stdin and answers each with the
checksum of the model's output for that line (the benchmarks time this);
"quit" or end of input ends it.
"""
import os
import signal
import sys
import threading
import time

os.closerange(3, 1024)  # inherited descriptors are not part of the workload

import hashlib  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

got_usr1 = threading.Event()
counter = [0]
stop = threading.Event()


def count():
    while not stop.is_set():
        counter[0] += 1
        time.sleep(0.001)


def build():
    torch.manual_seed(1234)
    torch.set_num_threads(2)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 512),
        torch.nn.GELU(),
        torch.nn.Linear(512, 512),
        torch.nn.GELU(),
        torch.nn.Linear(512, 64),
    ).eval()
    x = torch.randn(32, 256, generator=torch.Generator().manual_seed(42))
    return model, x


def infer(model, x):
    with torch.no_grad():
        return model(x)


def checksum(t):
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


def line_input(line):
    seed = int.from_bytes(hashlib.sha256(line.encode()).digest()[:4], "little")
    return torch.randn(1, 256, generator=torch.Generator().manual_seed(seed))


def verify(model, x, ref, ref_np):
    fails = []
    out = infer(model, x)
    if not torch.equal(out, ref):
        fails.append("model output differs from the reference (max diff %g)"
                     % float((out - ref).abs().max()))
    if not np.array_equal(np.asarray(ref.numpy()) @ np.eye(64, dtype=np.float32), ref_np):
        fails.append("numpy result differs")
    before = counter[0]
    time.sleep(0.3)
    if not worker.is_alive():
        fails.append("Python thread is dead")
    elif counter[0] <= before:
        fails.append("Python thread stopped counting")
    stop.set()
    worker.join(5)
    if worker.is_alive():
        fails.append("Python thread did not stop")
    for f in fails:
        print("FAIL: " + f, flush=True)
    if not fails:
        print("PASS", flush=True)
    return 1 if fails else 0


def main():
    global worker
    serve = "--serve" in sys.argv[1:]
    signal.signal(signal.SIGUSR1, lambda s, f: got_usr1.set())
    model, x = build()
    for _ in range(20):
        infer(model, x)
    ref = infer(model, x).clone()
    ref_np = np.asarray(ref.numpy()) @ np.eye(64, dtype=np.float32)
    worker = threading.Thread(target=count, name="counter", daemon=True)
    worker.start()
    print("READY", flush=True)
    if serve:
        for line in sys.stdin:
            line = line.strip()
            if line == "quit" or got_usr1.is_set():
                break
            print(checksum(infer(model, line_input(line))), flush=True)
        if not got_usr1.is_set():
            return 0
    while not got_usr1.wait(0.05):
        pass
    return verify(model, x, ref, ref_np)


if __name__ == "__main__":
    sys.exit(main())
