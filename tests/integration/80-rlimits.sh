#!/bin/bash
# 80-rlimits.sh - resource limits of a process that runs as another uid are
# dumped (read from /proc/PID/limits: prlimit(2) on another uid's process
# needs CAP_SYS_RESOURCE) and restored by the process itself; a snapshot
# whose hard limit is above what thaw restore may raise to is refused with the
# limit named, and nothing of it starts.
. "$(dirname "$0")/../lib.sh"
need_thaw
PROG=$BUILD/tests/compat/rlimit-uid
[ -x "$PROG" ] || fail "compat program $PROG is missing (run make programs)"

start limits "$PROG"
wait_line limits '^READY$'
grep -q '^Max core file size  *0  *4096 ' "/proc/$PID/limits" ||
	fail "the program did not lower its core limit: $(grep core "/proc/$PID/limits")"
dump_ok "$PID" "$TMP/snap"

# thaw restore whose hard core limit (1024) is below the snapshot's (4096),
# without CAP_SYS_RESOURCE (out of its bounding set: a root exec gets no more)
: >"$TMP/low.err"
prlimit --core=0:1024 setpriv --bounding-set=-sys_resource \
	timeout -k 5 60 "$THAW" restore --dir "$TMP/snap" --detach --pidfile "$TMP/low.pid" \
	</dev/null >/dev/null 2>"$TMP/low.err"
rc=$?
if pid=$(TIMEOUT=1 read_pidfile "$TMP/low.pid"); then
	track_restored "$pid"
	fail "a restore that cannot set the core limit started pid $pid"
fi
[ $rc = 1 ] || fail "thaw restore with a low core limit exited $rc, want 1: $(tail -n 3 "$TMP/low.err")"
grep -q "hard limit of core (4096) is above thaw restore's own (1024)" "$TMP/low.err" ||
	fail "the refusal does not name the core limit: $(tail -n 3 "$TMP/low.err")"
log "refused: $(grep -m1 'hard limit' "$TMP/low.err")"

restore_detached limits-restored "$TMP/snap"
grep -q '^Max core file size  *0  *4096 ' "/proc/$PID/limits" ||
	fail "restored core limit: $(grep core "/proc/$PID/limits")"
finish limits-restored "$PID"
pass
