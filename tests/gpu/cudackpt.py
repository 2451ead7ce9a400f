"""cudackpt.py - the CUDA driver's checkpoint calls from the command line.

    python3 cudackpt.py ACTION PID [ACTION ...]

ACTION is lock, checkpoint, restore, unlock, state or tid.  A debugging aid
beside thaw's own src/gpu/ (which makes the same calls in C): it loads
libcuda.so.1 with ctypes, so it needs no CUDA Python package.
"""
import ctypes
import sys
import time


class Args(ctypes.Structure):  # every checkpoint args struct is 64 bytes
    _fields_ = [("timeout_ms", ctypes.c_uint), ("pad", ctypes.c_byte * 60)]


def main():
    cuda = ctypes.CDLL("libcuda.so.1")
    t = time.monotonic()
    rc = cuda.cuInit(0)
    print("cuInit -> %d in %.3f s" % (rc, time.monotonic() - t), flush=True)
    pid = int(sys.argv[2])
    for action in sys.argv[1].split(","):
        t = time.monotonic()
        if action == "state":
            st = ctypes.c_int(-1)
            rc = cuda.cuCheckpointProcessGetState(pid, ctypes.byref(st))
            extra = " state %d" % st.value
        elif action == "tid":
            tid = ctypes.c_int(-1)
            rc = cuda.cuCheckpointProcessGetRestoreThreadId(pid, ctypes.byref(tid))
            extra = " tid %d" % tid.value
        else:
            fn = {"lock": cuda.cuCheckpointProcessLock,
                  "checkpoint": cuda.cuCheckpointProcessCheckpoint,
                  "restore": cuda.cuCheckpointProcessRestore,
                  "unlock": cuda.cuCheckpointProcessUnlock}[action]
            a = Args()
            if action == "lock":
                a.timeout_ms = 10000
            rc = fn(pid, ctypes.byref(a))
            extra = ""
        msg = ctypes.c_char_p()
        cuda.cuGetErrorString(rc, ctypes.byref(msg))
        print("%s %d -> %d (%s)%s in %.3f s" % (action, pid, rc, msg.value and msg.value.decode(),
                                                extra, time.monotonic() - t), flush=True)
        if rc:
            sys.exit(1)


main()
