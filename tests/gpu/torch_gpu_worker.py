"""torch_gpu_worker.py - a torch GPU worker that thaw snapshots and restores.

    python3 torch_gpu_worker.py [GIB]

Builds a stack of fp16 linear layers holding GIB GiB of weights on the GPU
(default 2), runs it eagerly, captures and replays a CUDA graph of it, and
compiles a function with torch.compile (when that works here); prints one
line `COLD {json}` with the time of each start-up phase, then READY, and
waits.  On SIGUSR1 it recomputes all three and compares them bit for bit
with the results from before the snapshot, prints PASS or FAIL lines and
exits 0 or 1.  Without thaw in between it must pass too.

With THAW_TEST_WEIGHTS=1 the weights are allocated inside
``thaw.gpu.weights()`` (libthaw's GPU weights region, which thaw saves itself;
libthaw.so from THAW_LIBTHAW), the rest as usual.

torch.compile runs with TORCHINDUCTOR_COMPILE_THREADS=1: its worker pool
would be a child process, and thaw dumps one process.
"""
import contextlib
import json
import os
import signal
import sys
import time

t_start = time.monotonic()
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
import torch  # noqa: E402

phases = {"import_s": time.monotonic() - t_start}
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg, flush=True)


def main():
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    dim = 8192
    layer_bytes = dim * dim * 2
    nlayers = max(1, int(gib * (1 << 30) // layer_bytes))

    t = time.monotonic()
    torch.cuda.init()
    torch.zeros(1, device="cuda")
    phases["cuda_init_s"] = time.monotonic() - t

    t = time.monotonic()
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1234)
    region = contextlib.nullcontext()
    if os.environ.get("THAW_TEST_WEIGHTS") == "1":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "..", "..", "sdk", "python"))
        import thaw
        region = thaw.gpu.weights()
    with region:
        weights = [torch.randn(dim, dim, device="cuda", dtype=torch.float16, generator=gen) * 0.01
                   for _ in range(nlayers)]
    torch.cuda.synchronize()
    phases["weights_s"] = time.monotonic() - t
    phases["weight_bytes"] = nlayers * layer_bytes
    if os.environ.get("THAW_TEST_WEIGHTS") == "1":
        phases["region_bytes"] = thaw.gpu.weights_bytes()
        if phases["region_bytes"] < phases["weight_bytes"]:
            fail("the weights region holds %d bytes, the weights are %d"
                 % (phases["region_bytes"], phases["weight_bytes"]))

    x = torch.randn(64, dim, device="cuda", dtype=torch.float16, generator=gen)

    def forward(inp):
        h = inp
        for w in weights:
            h = torch.tanh(h @ w)
        return h

    t = time.monotonic()
    y_eager = forward(x).clone()
    torch.cuda.synchronize()
    phases["eager_s"] = time.monotonic() - t

    t = time.monotonic()
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            forward(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = forward(static_x)
    graph.replay()
    torch.cuda.synchronize()
    y_graph = static_y.clone()
    phases["graph_capture_s"] = time.monotonic() - t

    compiled = None
    y_comp = None
    t = time.monotonic()
    if os.environ.get("THAW_TEST_NO_COMPILE") != "1":
        try:
            w0 = weights[0][:1024, :1024].contiguous()

            def small(a):
                return torch.nn.functional.gelu(a @ w0) * 0.5 + torch.sin(a)

            compiled = torch.compile(small)
            a = x[:, :1024].contiguous()
            y_comp = compiled(a).clone()
            torch.cuda.synchronize()
        except Exception as e:  # torch.compile needs a working triton/compiler
            print("# torch.compile unavailable: %r" % (e,), flush=True)
            compiled = None
    phases["compile_s"] = time.monotonic() - t
    phases["has_compile"] = compiled is not None
    phases["ready_s"] = time.monotonic() - t_start
    phases["device_bytes"] = torch.cuda.memory_allocated()
    phases["device_reserved"] = torch.cuda.memory_reserved()

    got = []
    signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
    print("COLD " + json.dumps(phases), flush=True)
    print("READY", flush=True)
    while not got:
        signal.pause()

    t = time.monotonic()
    if not torch.equal(forward(x), y_eager):
        fail("eager forward differs after restore")
    static_y.zero_()
    graph.replay()
    torch.cuda.synchronize()
    if not torch.equal(static_y, y_graph):
        fail("CUDA graph replay differs after restore")
    if compiled is not None:
        if not torch.equal(compiled(x[:, :1024].contiguous()), y_comp):
            fail("torch.compile'd function differs after restore")
    print("ANSWER %.3f s" % (time.monotonic() - t), flush=True)
    if not failures:
        print("PASS", flush=True)
    sys.exit(1 if failures else 0)


main()
