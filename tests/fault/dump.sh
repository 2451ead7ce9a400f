#!/bin/bash
# dump.sh - kill -9 of `thaw dump --dir`, with and without --leave-running,
# at random moments and at the named fault points (a thread's registers
# borrowed for an injected system call; the snapshot published, the program
# not yet killed): the program runs on unharmed (not traced, same fds, still
# answering), or, killed as asked, its snapshot is published whole and
# restores.  Nothing half written is left: no DIR.tmp-* beside DIR.
. "$(dirname "$0")/lib.sh"
TRIES=${FAULT_TRIES:-12}

# after_kill WHAT DIR LEAVE: the invariants once thaw has settled.
after_kill() {
	local what=$1 dir=$2 leave=$3 rpid
	settle "$what" "$BEFORE" "$PID"
	compgen -G "$dir.tmp-*" >/dev/null && fail "$what: a half-written $dir.tmp-* is left"
	if [ -e "$dir" ]; then
		check_snapshot "$dir"
		if [ "$leave" = 1 ] || alive "$PID"; then
			unharmed prog "$PID" "$FDS"
			log "$what: published, the program runs"
		else
			restore_detached "r-${dir##*/}" "$dir"
			rpid=$PID
			ping "r-${dir##*/}" "$rpid"
			kill -KILL "$rpid"
			wait_gone "$rpid" || fail "restored pid $rpid did not die"
			log "$what: published and restores, the program is gone as asked"
			new_program
		fi
	else
		unharmed prog "$PID" "$FDS"
		log "$what: nothing published, the program runs on"
	fi
	no_mounts "$what"
}

new_program
dump_ok "$PID" "$TMP/first" --leave-running
t0=$(date +%s%N) # the second one, with warm caches: what the random kills aim at
dump_ok "$PID" "$TMP/second" --leave-running
D=$((($(date +%s%N) - t0) / 1000000))
log "a dump takes $D ms here"
unharmed prog "$PID" "$FDS"

# registers borrowed: the first injected call (a sigaction) and a late one (a
# thread's sigaltstack); then published but not yet killed
n=0
for point in inject:1 inject:70 dump-published; do
	n=$((n + 1))
	BEFORE=$(own_procs | tr '\n' ' ')
	{ THAW_FAULT=$point "$THAW" dump --pid "$PID" --dir "$TMP/at$n" \
		>"$TMP/dump.log" 2>&1 </dev/null; } 2>/dev/null # no "Killed" from bash
	rc=$?
	[ $rc = 137 ] || fail "THAW_FAULT=$point: thaw dump exited $rc, not killed"
	after_kill "fault point $point" "$TMP/at$n" 0
done

for ((try = 1; try <= TRIES; try++)); do
	rand_ms "$D"
	delay=$R
	leave=0
	one_in 2 && leave=1
	args=()
	[ $leave = 1 ] && args=(--leave-running)
	BEFORE=$(own_procs | tr '\n' ' ')
	kill_after "$delay" "$TMP/dump.log" "$THAW" dump --pid "$PID" --dir "$TMP/try$try" "${args[@]}"
	after_kill "try $try (${args[*]:-kill} at $delay ms, exit $KILLED_RC)" "$TMP/try$try" $leave
done

unharmed prog "$PID" "$FDS"
finish prog "$PID"
pass
