#!/bin/bash
# 79-io-uring.sh - an io_uring instance is a clear dump error that names the
# fd, and the program runs on; thaw run asks libuv for epoll instead
# (UV_USE_IO_URING=0) unless the caller chose.
. "$(dirname "$0")/../lib.sh"
need_thaw
[ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 0 ] ||
	skip "io_uring is disabled on this kernel"

# a program holding an io_uring fd (io_uring_setup through ctypes: no liburing needed)
cat >"$TMP/uring.py" <<'PY'
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
fd = libc.syscall(425, 4, params)  # io_uring_setup
if fd < 0:
    print("SKIP io_uring_setup: errno %d" % ctypes.get_errno(), flush=True)
    sys.exit(0)
print("FD", fd, flush=True)
print("READY", flush=True)
signal.signal(signal.SIGUSR1, lambda s, f: (print("PASS", flush=True), sys.exit(0)))
while True:
    signal.pause()
PY
start uring /usr/bin/python3 "$TMP/uring.py"
wait_line uring '^(READY|SKIP)'
grep -q '^SKIP' "$TMP/uring.out" && skip "$(cat "$TMP/uring.out")"
fd=$(awk '/^FD / { print $2 }' "$TMP/uring.out")
if dump "$PID" "$TMP/snap"; then
	fail "dump of a program holding io_uring succeeded"
fi
grep -qE "fd $fd \(anon_inode:\[io_uring\]\): io_uring is not supported" "$TMP/dump.log" ||
	fail "the error does not name the io_uring fd $fd: $(tail -n 3 "$TMP/dump.log")"
[ -e "$TMP/snap" ] && fail "a failed dump left $TMP/snap"
alive "$PID" || fail "the program died in a refused dump"
finish uring "$PID"

# thaw run: UV_USE_IO_URING=0 for its program, a value the caller set is kept
"$THAW" run --store "$TMP/store" --no-snapshot -- /bin/sh -c 'echo "uv=$UV_USE_IO_URING"' \
	</dev/null >"$TMP/run1.out" 2>"$TMP/run1.err" || fail "thaw run: $(cat "$TMP/run1.err")"
grep -qx 'uv=0' "$TMP/run1.out" || fail "UV_USE_IO_URING in thaw run's program: $(cat "$TMP/run1.out")"
UV_USE_IO_URING=1 "$THAW" run --store "$TMP/store" --no-snapshot -- /bin/sh -c 'echo "uv=$UV_USE_IO_URING"' \
	</dev/null >"$TMP/run2.out" 2>"$TMP/run2.err" || fail "thaw run: $(cat "$TMP/run2.err")"
grep -qx 'uv=1' "$TMP/run2.out" || fail "the caller's UV_USE_IO_URING was not kept: $(cat "$TMP/run2.out")"
pass
