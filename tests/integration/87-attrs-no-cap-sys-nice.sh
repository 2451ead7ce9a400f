#!/bin/bash
# 87-attrs-no-cap-sys-nice.sh - programs and thaw without CAP_SYS_NICE
# (Docker's default capability set lacks it):
#  - the dump still reads every thread's timer slack (asked from inside when
#    /proc/TID/timerslack_ns refuses), and the restore puts it back;
#  - a nice value above thaw's comes back on every thread;
#  - one below thaw's cannot: the restore fails naming the thread and the
#    capability, rather than leaving the threads at another nice value.
. "$(dirname "$0")/../lib.sh"
need_thaw
command -v capsh >/dev/null || skip "no capsh"
PROG=$BUILD/tests/compat/timerslack
[ -x "$PROG" ] || fail "$PROG is missing (run make programs)"
capsh --drop=cap_sys_nice -- -c 'cat /proc/1/timerslack_ns' >/dev/null 2>&1 &&
	skip "/proc/PID/timerslack_ns does not need CAP_SYS_NICE on this kernel"
[ "$(nice)" = 0 ] || skip "this test runs at nice $(nice), not 0"

NO_NICE=(capsh --drop=cap_sys_nice -- -c 'exec "$0" "$@"')
# thaw itself without CAP_SYS_NICE, for lib.sh's dump and restore helpers
THAW_REAL=$THAW
THAW=$TMP/thaw-no-nice
printf '#!/bin/sh\nexec capsh --drop=cap_sys_nice -- -c '\''exec "$0" "$@"'\'' %s "$@"\n' \
	"$THAW_REAL" >"$THAW"
chmod +x "$THAW"

nices() { ps -L -o nice= -p "$1" | tr -d ' ' | sort -u | tr '\n' ' '; }

start up nice -n 5 "${NO_NICE[@]}" "$PROG"
wait_ready up
[ "$(nices "$PID")" = "5 " ] || fail "the program runs at nice $(nices "$PID"), not 5"
dump_ok "$PID" "$TMP/up.snap"
restore_detached up-restored "$TMP/up.snap"
[ "$(nices "$PID")" = "5 " ] || fail "the restored threads run at nice $(nices "$PID"), not 5"
finish up-restored "$PID"

start down nice -n -3 "${NO_NICE[@]}" "$PROG"
wait_ready down
dump_ok "$PID" "$TMP/down.snap"
restore_fails down-restored "$TMP/down.snap"
grep -qE 'pid [0-9]+ tid [0-9]+: setting policy other \(nice -3.*needs CAP_SYS_NICE' \
	"$TMP/down-restored.err" ||
	fail "the failed restore does not name the thread and CAP_SYS_NICE: $(cat "$TMP/down-restored.err")"
pass
