"""run_worker.py - a torch GPU worker for `thaw run` (tests/gpu/run-thaw-run.sh).

    thaw run --store S -- python3 run_worker.py [GIB]

Before its snapshot point it imports torch, builds GIB GiB (default 2) of
fp16 weights on the GPU, runs them eagerly, captures a CUDA graph of the
forward pass and, when torch.compile works here, compiles a small function;
it prints nothing on stdout until then.  After thaw.snapshot() (cold or
restored alike) it replays the graph and prints its first line: the SDK's
result is on stderr, the checksum of the forward pass is the first stdout
line, so the cold and the restored starts can be compared by that line.

With THAW_TEST_WEIGHTS=1 the weights are allocated inside thaw.gpu.weights()
(libthaw's GPU weights region; libthaw.so from THAW_LIBTHAW).

torch.compile runs with TORCHINDUCTOR_COMPILE_THREADS=1: its worker pool
would be a child process, and thaw dumps one process.
"""
import contextlib
import os
import sys
import time

t_start = time.monotonic()
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
import torch  # noqa: E402

import thaw  # noqa: E402  (thaw run puts the SDK on PYTHONPATH)


def checksum(t):
    """An exact integer digest of an fp16 tensor's bits, position-weighted."""
    bits = t.contiguous().view(torch.int16).to(torch.int64).flatten()
    idx = torch.arange(1, bits.numel() + 1, device=bits.device, dtype=torch.int64)
    return int((bits * (idx % 65521)).sum().item()) & ((1 << 64) - 1)


def main():
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    dim = 8192
    nlayers = max(1, int(gib * (1 << 30) // (dim * dim * 2)))
    torch.zeros(1, device="cuda")
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1234)
    region = contextlib.nullcontext()
    if os.environ.get("THAW_TEST_WEIGHTS") == "1":
        region = thaw.gpu.weights()
    with region:
        weights = [torch.randn(dim, dim, device="cuda", dtype=torch.float16, generator=gen) * 0.01
                   for _ in range(nlayers)]
    x = torch.randn(64, dim, device="cuda", dtype=torch.float16, generator=gen)

    def forward(inp):
        h = inp
        for w in weights:
            h = torch.tanh(h @ w)
        return h

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

    compiled = None
    if os.environ.get("THAW_TEST_NO_COMPILE") != "1":
        try:
            w0 = weights[0][:1024, :1024].contiguous()

            def small(a):
                return torch.nn.functional.gelu(a @ w0) * 0.5 + torch.sin(a)

            compiled = torch.compile(small)
            compiled(x[:, :1024].contiguous())
        except Exception as e:  # torch.compile needs a working triton/compiler
            print("# torch.compile unavailable: %r" % (e,), file=sys.stderr, flush=True)
            compiled = None
    torch.cuda.synchronize()
    warm_s = time.monotonic() - t_start

    res = thaw.snapshot()

    static_y.zero_()
    graph.replay()
    eager = forward(x)
    comp = compiled(x[:, :1024].contiguous()) if compiled is not None else None
    torch.cuda.synchronize()
    line = "CHECKSUM graph %016x eager %016x" % (checksum(static_y), checksum(eager))
    if comp is not None:
        line += " compiled %016x" % checksum(comp)
    print(line, flush=True)
    print("# thaw.snapshot() = %s (%s), warm-up %.1f s, compile %s" %
          (res, thaw.error() or "", warm_s, compiled is not None), file=sys.stderr, flush=True)
    return 0 if torch.equal(static_y, eager) else 1


sys.exit(main())
