#!/bin/bash
# 48-verify.sh - thaw restore --verify reads the restored process back before
# it runs and compares it with its snapshot.  A change that validation lets
# through (the mode of a mapped file: chmod keeps its size and mtime) restores
# silently without --verify; with it, the restore fails with a message naming
# the process, the mapping and the field, no process of it is left, and the
# snapshot restores and verifies again once the file is as it was.  Under
# thaw run --verify the same difference is a cold start that says what
# differs; the snapshot taken then restores and verifies.
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_thaw

# the processes running basic, as "pid pid ...": none may be left by a failed restore
basics() { pgrep -f -x "$PROGS/basic --map $TMP/mapped.dat" | tr '\n' ' '; }

head -c 65536 /dev/urandom >"$TMP/mapped.dat" || fail "make mapped.dat"
chmod 0644 "$TMP/mapped.dat" || fail "chmod"
start orig "$PROGS/basic" --map "$TMP/mapped.dat"
wait_ready orig
dump_ok "$PID" "$TMP/snap"
cp -a "$TMP/snap" "$TMP/snap.copy" || fail "copy the snapshot"

chmod 0600 "$TMP/mapped.dat" || fail "chmod"
# without verification the change goes unseen: the program runs on
THAW_VERIFY=0 restore_detached unverified "$TMP/snap"
kill -KILL "$PID"
wait_gone "$PID" 5 || fail "pid $PID survived SIGKILL"
before=$(basics)

restore_fails verified "$TMP/snap" --verify
grep -q 'the restore differs from the snapshot: pid [0-9]* (basic): vmas\[0x[0-9a-f]*\]\.file\.mode: 0100600 restored, 0100644 dumped' \
	"$TMP/verified.err" ||
	fail "the failure does not name the mapping's mode: $(head -n 3 "$TMP/verified.err")"
[ "$(basics)" = "$before" ] || fail "a failed verification left basic running: $(basics)"
diff -r "$TMP/snap" "$TMP/snap.copy" >/dev/null || fail "a failed verification changed the snapshot"

# the same snapshot, the file as it was: restored, verified, and it runs on
chmod 0644 "$TMP/mapped.dat" || fail "chmod"
restore_detached restored "$TMP/snap" --verify
finish restored "$PID"

# ---- thaw run --verify
STORE=$TMP/store
cp "$TMP/mapped.dat" "$TMP/run.dat" && chmod 0644 "$TMP/run.dat" || fail "make run.dat"

# run NAME [OPTIONS...]: basic under thaw run, snapshot at READY, asked to check itself
run() {
	local name=$1 prog i
	shift
	"$THAW" run --store "$STORE" --snap-on-stdout '^READY$' "$@" -- \
		"$PROGS/basic" --map "$TMP/run.dat" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	# started cold, it is asked once its snapshot is taken; restored, once it runs
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		prog=$(pgrep -n -f -x "$PROGS/basic --map $TMP/run.dat")
		[ -n "$prog" ] && grep -qE 'snapshot created|restored .* from snapshot' \
			"$TMP/$name.err" && break
		sleep 0.05
	done
	[ -n "$prog" ] || fail "$name: no program under thaw run: $(cat "$TMP/$name.err")"
	track "$prog"
	kill -USR1 "$prog"
	wait_status "$THAW_PID"
	[ "$STATUS" = 0 ] || fail "$name: thaw run exited $STATUS: $(cat "$TMP/$name.err")"
	wait_line "$name" '^(PASS|FAIL)'
	check_output "$name"
}

run first --verify
grep -q 'cold start: no snapshot yet' "$TMP/first.err" || fail "first: $(cat "$TMP/first.err")"
chmod 0600 "$TMP/run.dat" || fail "chmod"
run differs --verify
grep -q 'cold start: restore failed: .*the restore differs from the snapshot: .*file\.mode: 0100600 restored, 0100644 dumped' \
	"$TMP/differs.err" || fail "differs: no cold start naming the mode: $(cat "$TMP/differs.err")"
run again --verify
grep -q 'restored .* from snapshot' "$TMP/again.err" ||
	fail "again: the new snapshot was not restored: $(cat "$TMP/again.err")"
grep -q 'cold start' "$TMP/again.err" && fail "again: $(cat "$TMP/again.err")"
pass
