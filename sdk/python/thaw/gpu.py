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
"""

import sys

__all__ = ["before_snapshot", "after_restore", "release_torch_cache"]

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
