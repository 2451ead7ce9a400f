#!/bin/bash
# 40-dump-refused.sh - a dump thaw cannot complete fails cleanly: the error
# names the fd, no snapshot appears and the program runs on unharmed.
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_thaw

start sock "$PROGS/basic" --socket
wait_ready sock
if dump "$PID" "$TMP/snap"; then
	fail "dump of a program holding a socket succeeded"
fi
grep -qE 'fd [34] \(socket:\[[0-9]+\]\)' "$TMP/dump.log" ||
	fail "the error does not name the socket fd: $(tail -n 3 "$TMP/dump.log")"
[ -e "$TMP/snap" ] && fail "a failed dump left $TMP/snap"
compgen -G "$TMP/snap.*" >/dev/null && fail "a failed dump left a temporary directory"
alive "$PID" || fail "the program died in a failed dump"
sleep 0.2
finish sock "$PID"

# a snapshot directory that exists already is never overwritten
start exists "$PROGS/basic"
wait_ready exists
mkdir "$TMP/taken" && echo keep >"$TMP/taken/file"
if dump "$PID" "$TMP/taken"; then
	fail "dump into an existing directory succeeded"
fi
[ "$(cat "$TMP/taken/file")" = keep ] && [ "$(ls "$TMP/taken")" = file ] ||
	fail "dump changed the existing directory"
alive "$PID" || fail "the program died in a refused dump"
finish exists "$PID"

# a PID that does not exist
"$THAW" dump --pid 999999999 --dir "$TMP/nopid" >"$TMP/nopid.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "dump of a missing pid exited $rc, want 1"
[ -s "$TMP/nopid.log" ] || fail "dump of a missing pid failed without a message"
[ -e "$TMP/nopid" ] && fail "dump of a missing pid left a snapshot"
pass
