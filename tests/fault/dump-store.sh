#!/bin/bash
# dump-store.sh - kill -9 of `thaw dump --store`: the program runs on
# unharmed, or its snapshot is named in the store (whole: it verifies and
# restores); it never dies unnamed.  Staging directories a killed dump left
# go with the next dump or gc, and never one in use.
. "$(dirname "$0")/lib.sh"
TRIES=${FAULT_TRIES:-10}
STORE=$TMP/store

# named N: the snapshot N is in the store; it verifies and restores to a working program.
named_whole() {
	local name=$1 rpid
	"$THAW" store --store "$STORE" verify "$name" >"$TMP/verify.log" 2>&1 ||
		fail "snapshot $name is named but does not verify: $(tail -n 3 "$TMP/verify.log")"
	restore_detached_from "r-$name" --store "$STORE" --name "$name"
	rpid=$PID
	ping "r-$name" "$rpid"
	kill -KILL "$rpid"
	wait_gone "$rpid" || fail "restored pid $rpid did not die"
	shm_empty "restore of $name"
}

# after_kill WHAT NAME: the invariants once thaw has settled.
after_kill() {
	local what=$1 name=$2
	settle "$what" "$BEFORE" "$PID"
	if [ -e "$STORE/names/$name" ]; then
		named_whole "$name"
		if alive "$PID"; then
			unharmed prog "$PID" "$FDS"
			log "$what: named, and the program runs"
		else
			log "$what: named, program gone"
			new_program
		fi
	else
		unharmed prog "$PID" "$FDS"
		log "$what: not named, the program runs on"
	fi
	no_mounts "$what"
}

new_program
BEFORE=$(own_procs | tr '\n' ' ')
t0=$(date +%s%N)
"$THAW" dump --pid "$PID" --store "$STORE" --name first --leave-running >"$TMP/dump.log" 2>&1 ||
	fail "a plain dump into the store failed: $(tail -n 3 "$TMP/dump.log")"
D=$((($(date +%s%N) - t0) / 1000000))
log "a dump into the store takes $D ms here"
unharmed prog "$PID" "$FDS"

# the narrow moments: the snapshot written but not yet put; stored but not named
for point in dump-published store-name; do
	BEFORE=$(own_procs | tr '\n' ' ')
	{ THAW_FAULT=$point "$THAW" dump --pid "$PID" --store "$STORE" --name "at-$point" \
		>"$TMP/dump.log" 2>&1 </dev/null; } 2>/dev/null # no "Killed" from bash
	rc=$?
	[ $rc = 137 ] || fail "THAW_FAULT=$point: thaw dump exited $rc, not killed"
	after_kill "fault point $point" "at-$point"
done

for ((try = 1; try <= TRIES; try++)); do
	rand_ms "$D"
	delay=$R
	BEFORE=$(own_procs | tr '\n' ' ')
	kill_after "$delay" "$TMP/dump.log" "$THAW" dump --pid "$PID" --store "$STORE" --name "try$try"
	after_kill "try $try (kill at $delay ms, exit $KILLED_RC)" "try$try"
done

# a staging directory whose maker still runs (holds its lock) is never swept
mkdir -m 700 "$STORE/dump-held01" && echo data >"$STORE/dump-held01/file" || fail "mkdir"
exec {held}<"$STORE/dump-held01"
flock -x "$held" || fail "flock"

# what killed dumps staged goes with the next dump, whole; gc finds nothing more
"$THAW" dump --pid "$PID" --store "$STORE" --name last --leave-running >"$TMP/dump.log" 2>&1 ||
	fail "dump after the kills failed: $(tail -n 3 "$TMP/dump.log")"
left=$(cd "$STORE" && ls -d dump-* 2>/dev/null | tr '\n' ' ')
[ "$left" = "dump-held01 " ] || fail "staging directories after the next dump: '$left', want dump-held01"
"$THAW" store --store "$STORE" --grace 0 gc >"$TMP/gc.log" 2>&1 || fail "gc failed: $(cat "$TMP/gc.log")"
[ -e "$STORE/dump-held01/file" ] || fail "gc removed a staging directory in use"
exec {held}<&-
"$THAW" store --store "$STORE" --grace 0 gc >"$TMP/gc.log" 2>&1 || fail "gc failed: $(cat "$TMP/gc.log")"
[ -e "$STORE/dump-held01" ] && fail "gc left a staging directory nobody uses"
[ -z "$(ls -A "$STORE/tmp")" ] || fail "gc left $(ls -A "$STORE/tmp" | tr '\n' ' ') in tmp/"
unharmed prog "$PID" "$FDS"
finish prog "$PID"
pass
