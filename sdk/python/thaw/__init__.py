"""thaw - the Python SDK: mark a program's snapshot point, run code after a restore.

Pure Python, standard library only.  Under ``thaw run`` the first call of
``thaw.snapshot()`` is the snapshot point: on the first start thaw snapshots
the process there and lets it go on (``"snapshotted"``); every later start
comes back from that snapshot inside the same call, which then reseeds the
random generators and runs the ``on_restore`` hooks before returning
``"restored"``.  Outside thaw every call is a cheap no-op returning
``"disabled"``, so the same program runs anywhere.

    import thaw

    @thaw.main
    class Worker:
        @thaw.enter(snap=True)
        def load(self):            # once, before the snapshot
            self.model = load_model()

        @thaw.enter()              # snap=False, the default, as in Modal
        def connect(self):         # on every start, cold or restored
            self.out = open_output()

        def run(self):
            serve(self.model, self.out)

The control protocol is described in docs/runtime.md.
"""

import os
import sys

from . import gpu  # thaw.gpu.before_snapshot / after_restore

__all__ = [
    "DISABLED", "SNAPSHOTTED", "RESTORED", "FAILED",
    "snapshot", "on_restore", "enter", "main", "enabled", "result", "error", "gpu",
]

DISABLED = "disabled"        # not under thaw run, or snapshots are off
SNAPSHOTTED = "snapshotted"  # first start: the snapshot was taken, running on
RESTORED = "restored"        # this process came back from the snapshot
FAILED = "failed"            # under thaw, but no snapshot was taken: see error()

_result = None
_error = ""
_hooks = []


def _control_fd():
    value = os.environ.get("THAW_CONTROL_FD")
    if not value:
        return None
    try:
        fd = int(value)
        import stat
        # a child of the program inherits the variable, not the socket
        if fd < 3 or not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
    except (ValueError, OSError):
        return None
    return fd


def enabled():
    """Whether this process runs under thaw run."""
    return _control_fd() is not None


def result():
    """The snapshot point's result, or None before it was reached."""
    return _result


def error():
    """Why snapshot() returned FAILED; "" otherwise."""
    return _error


def _flush():
    # bytes buffered before the snapshot would be written again by every restored copy
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _talk(fd):
    global _error
    os.set_inheritable(fd, False)  # children we start later must not hold thaw's socket
    _flush()
    try:
        os.write(fd, b"snapshot")
        reply = os.read(fd, 512)  # a restored copy wakes up here
    except OSError as e:
        _error = "control socket: %s" % e.strerror
        return FAILED
    text = reply.decode("utf-8", "replace")
    if text in (SNAPSHOTTED, RESTORED, DISABLED):
        return text
    if text.startswith("failed: "):
        _error = text[len("failed: "):]
        return FAILED
    _error = "thaw closed the control socket" if not text else "unexpected answer %r" % text
    return FAILED


def _reseed():
    """Restored copies must not share random streams the way separate processes never would."""
    if os.environ.get("THAW_KEEP_RANDOM") == "1":
        return
    import random
    random.seed(os.urandom(32))
    mods = sys.modules
    if "ssl" in mods:
        try:
            mods["ssl"].RAND_add(os.urandom(32), 32.0)
        except Exception:
            pass
    if "numpy" in mods:
        try:
            words = [int.from_bytes(os.urandom(4), "little") for _ in range(8)]
            mods["numpy"].random.seed(words)
        except Exception:
            pass
    if "torch" in mods:
        try:
            torch = mods["torch"]
            seed = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
            torch.manual_seed(seed)  # CPU and, when initialised, every CUDA device
        except Exception:
            pass


def snapshot():
    """The snapshot point.  Returns RESTORED, SNAPSHOTTED, DISABLED or FAILED.

    Later calls return the first call's result without a new snapshot.
    """
    global _result
    if _result is not None:
        return _result
    fd = _control_fd()
    if fd is None:
        _result = DISABLED
        return _result
    gpu._run_before_snapshot()
    _result = _talk(fd)
    if _result == RESTORED:
        _reseed()
    # whatever the before_snapshot hooks dropped is needed again on every way on
    gpu._run_after_restore()
    if _result == RESTORED:
        for fn in list(_hooks):
            fn()
    return _result


def on_restore(fn):
    """Registers fn() to run after a restore, in registration order.  Usable as a decorator."""
    _hooks.append(fn)
    return fn


def enter(snap=False):
    """Marks a method of a thaw.main class: snap=True runs once, before the snapshot
    point; snap=False (the default, as Modal's @modal.enter()) runs on every start,
    after it.  A bare @thaw.enter is @thaw.enter()."""
    def mark(fn):
        fn.__thaw_enter__ = bool(snap)
        return fn
    if callable(snap) and not isinstance(snap, bool):  # bare @thaw.enter
        fn, snap = snap, False
        return mark(fn)
    return mark


def _entered(cls, snap):
    """Methods marked with enter(snap), base classes first, each in definition order."""
    seen, found = set(), []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if getattr(fn, "__thaw_enter__", None) is None:
                continue
            if name in seen:
                found = [n for n in found if n != name]
            seen.add(name)
            found.append(name)
    return [n for n in found
            if getattr(getattr(cls, n), "__thaw_enter__", None) is snap]


def main(cls):
    """Instantiates cls, runs its snap=True methods, reaches the snapshot point, runs
    its snap=False methods (on every start), then calls its run() method if it has
    one.  Usable as a class decorator; returns cls."""
    obj = cls()
    for name in _entered(cls, True):
        getattr(obj, name)()
    snapshot()
    for name in _entered(cls, False):
        getattr(obj, name)()
    run = getattr(obj, "run", None)
    if callable(run):
        run()
    return cls
