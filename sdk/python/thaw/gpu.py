"""thaw.gpu - hooks around the snapshot point for what is not worth saving.

A GPU worker often holds memory that is cheap to rebuild but costly to save:
the caching allocator's free blocks, an empty KV cache, scratch buffers.
Every byte of it is copied to host memory by the CUDA checkpoint and then
written into the snapshot.  Drop it just before the dump and rebuild it after:

    import thaw

    @thaw.gpu.before_snapshot
    def drop():
        worker.kv_cache = None
        thaw.gpu.release_torch_cache()

    @thaw.gpu.after_restore
    def rebuild():
        worker.kv_cache = allocate_kv_cache()

``before_snapshot`` hooks run at the snapshot point under ``thaw run``, just
before thaw is asked for the snapshot (so before the dump, and before the CUDA
checkpoint).  ``after_restore`` hooks run whenever the ``before_snapshot``
hooks ran and the program goes on: in a restored copy (before the
``thaw.on_restore`` hooks, so those find the GPU state rebuilt), and in the
first start that goes on after its snapshot, or after a failed one, which
dropped the same things.  Outside thaw neither kind runs: nothing was dropped.
Both run in registration order.  An exception in a ``before_snapshot`` hook
propagates out of ``thaw.snapshot()`` before anything is asked of thaw.

The hooks are ordinary callables; nothing here needs a GPU or torch.

Weights outside the driver's checkpoint (docs/gpu.md): tensors allocated
inside ``with thaw.gpu.weights():`` land in libthaw's GPU weights region,
which thaw saves itself at pinned-copy bandwidth and puts back at the same
device addresses before the program runs again, so CUDA graphs and compiled
kernels that hold their pointers keep working:

    with thaw.gpu.weights():
        model = load_model().cuda()

It uses torch's pluggable allocator and memory pools
(``torch.cuda.memory.CUDAPluggableAllocator``, ``torch.cuda.MemPool``,
``torch.cuda.use_mem_pool``) backed by libthaw.so, found through
``THAW_LIBTHAW`` (a path), next to this package in a source tree
(build/libthaw.so), or by the dynamic loader (libthaw.so.0).  Only what is
allocated in the calling thread inside the block goes there; put only what
does not change once loaded (a model's weights) there.
"""

import contextlib
import os
import sys

__all__ = ["before_snapshot", "after_restore", "release_torch_cache", "weights",
           "weights_bytes"]

_before = []
_after = []


def before_snapshot(fn):
    """Registers fn() to run just before the snapshot is taken.  Usable as a decorator."""
    if not callable(fn):
        raise TypeError("thaw.gpu.before_snapshot: %r is not callable" % (fn,))
    _before.append(fn)
    return fn


def after_restore(fn):
    """Registers fn() to run after the snapshot point whenever the before_snapshot hooks
    ran: after a restore, and in the first start going on after its snapshot (or after a
    failed one).  Usable as a decorator."""
    if not callable(fn):
        raise TypeError("thaw.gpu.after_restore: %r is not callable" % (fn,))
    _after.append(fn)
    return fn


def release_torch_cache():
    """Returns the torch caching allocator's unused blocks to the driver, when torch is
    imported and has initialised CUDA; otherwise does nothing (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return
    cuda.synchronize()  # blocks still in use by queued kernels are not free yet
    cuda.empty_cache()


def _run_before_snapshot():
    for fn in list(_before):
        fn()


def _run_after_restore():
    for fn in list(_after):
        fn()


_weights = {}  # "lib": the ctypes handle, "path", "pool": the MemPool (kept for good)


def _libthaw_path():
    """libthaw.so: THAW_LIBTHAW, a source tree's build/, or the loader's search."""
    env = os.environ.get("THAW_LIBTHAW")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.normpath(os.path.join(here, "..", "..", "..", "build", "libthaw.so"))
    return [tree, "libthaw.so.0"]


def _libthaw():
    if "lib" in _weights:
        return _weights["lib"]
    import ctypes
    tried = []
    for path in _libthaw_path():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (missing)" % path)
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        if not hasattr(lib, "thaw_gpu_weights_torch_alloc"):
            tried.append("%s (a libthaw without the GPU weights region)" % path)
            continue
        lib.thaw_gpu_weights_bytes.restype = ctypes.c_size_t
        lib.thaw_gpu_weights_error.restype = ctypes.c_char_p
        _weights["lib"], _weights["path"] = lib, path
        return lib
    raise RuntimeError("thaw.gpu.weights(): cannot load libthaw.so (set THAW_LIBTHAW to its "
                       "path); tried: " + "; ".join(tried))


def _torch_pool_api(torch):
    """torch's pluggable allocator and memory pool calls, or a clear error."""
    cuda = getattr(torch, "cuda", None)
    memory = getattr(cuda, "memory", None)
    pluggable = getattr(memory, "CUDAPluggableAllocator", None)
    mempool = getattr(cuda, "MemPool", None) or getattr(memory, "MemPool", None)
    use_pool = getattr(cuda, "use_mem_pool", None) or getattr(memory, "use_mem_pool", None)
    missing = [name for name, v in (("torch.cuda.memory.CUDAPluggableAllocator", pluggable),
                                    ("torch.cuda.MemPool", mempool),
                                    ("torch.cuda.use_mem_pool", use_pool)) if v is None]
    if missing:
        raise RuntimeError("thaw.gpu.weights() needs %s, which torch %s lacks (torch 2.8 or "
                           "newer has them)" % (", ".join(missing),
                                                getattr(torch, "__version__", "?")))
    if not cuda.is_available():
        raise RuntimeError("thaw.gpu.weights(): torch sees no CUDA device")
    return pluggable, mempool, use_pool


@contextlib.contextmanager
def weights(device=None):
    """Allocations of the calling thread inside the block go to libthaw's GPU weights
    region on device (default: the current one).  Raises RuntimeError, before the block
    runs, when torch lacks the pool API or libthaw.so cannot be loaded."""
    try:
        import torch
    except ImportError as e:
        raise RuntimeError("thaw.gpu.weights() needs torch: %s" % e) from None
    pluggable, mempool, use_pool = _torch_pool_api(torch)
    lib = _libthaw()
    if "pool" not in _weights:
        alloc = pluggable(_weights["path"], "thaw_gpu_weights_torch_alloc",
                          "thaw_gpu_weights_torch_free")
        # never freed: tensors allocated in it live as long as the program wants them
        _weights["allocator"] = alloc
        _weights["pool"] = mempool(alloc.allocator())
    del lib
    with use_pool(_weights["pool"], device=device):
        yield _weights["pool"]


def weights_bytes():
    """Device bytes in the GPU weights region now (0 before any thaw.gpu.weights())."""
    if "lib" not in _weights:
        return 0
    return int(_weights["lib"].thaw_gpu_weights_bytes())
