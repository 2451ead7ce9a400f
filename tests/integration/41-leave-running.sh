#!/bin/bash
# 41-leave-running.sh - dump --leave-running keeps the program going, and its
# snapshot restores, twice at once (each restore has its own PID namespace).
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_thaw

start orig "$PROGS/basic" --threads 4
wait_ready orig
orig=$PID
dump_ok "$orig" "$TMP/snap" --leave-running
check_snapshot "$TMP/snap"
sleep 0.3
alive "$orig" || fail "the program stopped after dump --leave-running"
finish orig "$orig"

ns_pid() { awk '/^NSpid:/ { print $NF }' "/proc/$1/status" 2>/dev/null; }

restore_detached r1 "$TMP/snap"
p1=$PID
restore_detached r2 "$TMP/snap"
p2=$PID
[ "$p1" != "$p2" ] || fail "two restores report the same outer pid $p1"
for p in "$p1" "$p2"; do
	[ "$(ns_pid "$p")" = "$orig" ] ||
		fail "restored pid $p sees itself as $(ns_pid "$p"), want $orig"
done
sleep 0.3
finish r1 "$p1"
finish r2 "$p2"
pass
