#!/bin/bash
# fault.sh [GIB] - kill -9 of `thaw dump` of a CUDA program (GIB GiB on the
# GPU, default 8) at the fault point right after the driver's checkpoint and
# at 0.3, 1.5 and 3.0 s into the dump: each time the program must come back
# to RUNNING on its GPU and pass its own check (issue 12, item 5).  Runs on
# the device machine (tests/gpu/run.sh); every process is killed by PID.
. "$(dirname "$0")/../lib.sh"
need_thaw
gib=${1:-8}
prog=$BUILD/tests/gpu/gpu-mem
[ -x "$prog" ] || fail "$prog is missing (tests/gpu/run.sh builds it)"

# settled: no thaw of ours left, the program not traced by anyone
settle() {
	local pid=$1 i
	for ((i = 0; i < 600; i++)); do
		[ -z "$(thaw_procs)" ] && grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status" && return 0
		sleep 0.1
	done
	fail "pid $pid: still traced or thaw still running 60 s after the kill"
}

one() {
	local how=$1 name=k$2 rc
	start "$name" "$prog" "$gib"
	wait_ready "$name" 300
	if [ "$how" = point ]; then
		THAW_FAULT=gpu-checkpointed "$THAW" dump --pid "$PID" --dir "$TMP/$name.snap" \
			>"$TMP/$name.dump.log" 2>&1
		rc=$?
	else
		"$THAW" dump --pid "$PID" --dir "$TMP/$name.snap" >"$TMP/$name.dump.log" 2>&1 &
		local dpid=$!
		sleep "$how"
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid"
		rc=$?
	fi
	log "$name: dump killed ($how), exit $rc"
	settle "$PID"
	if [ -d "$TMP/$name.snap" ]; then
		# the kill came after the snapshot was published: the program may be gone, by design
		log "$name: the snapshot was published before the kill"
		alive "$PID" && finish "$name" "$PID"
		return 0
	fi
	alive "$PID" || fail "$name: the program died with the killed dump"
	finish "$name" "$PID"
	echo "RECOVERED $name ($how)"
}

one point 0
one 0.3 1
one 1.5 2
one 3.0 3
pass
