# run-lib.sh - sourced by the thaw run + chunk store tests (tests/integration/7[2-4]-*)
# after tests/lib.sh: sdk-counter (the C SDK) under thaw run, stopped by PID.

# counter_start NAME [THAW RUN ARGS...]: sdk-counter 3 under `thaw run ARGS`,
# output in $TMP/NAME.out and .err; returns once it has printed its last line,
# with THAW_PID (thaw run) and PROG (the program as we see it) set.
counter_start() {
	local name=$1 init i
	shift
	"$THAW" run "$@" -- "$PROGS/sdk-counter" 3 </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	wait_line "$name" '^second call'
	init=$(cat /proc/"$THAW_PID"/task/*/children 2>/dev/null | awk '{ print $1 }')
	PROG=
	for ((i = 0; i < 100; i++)); do
		PROG=$(awk '{ print $1 }' "/proc/$init/task/$init/children" 2>/dev/null)
		[ -n "$PROG" ] && break
		sleep 0.05
	done
	track "$init" "$PROG"
	[ -n "$PROG" ] || fail "$name: no program under thaw run $THAW_PID"
	log "$name: thaw run $THAW_PID, init $init, program $PROG"
}

# counter_stop NAME: SIGUSR1 to the program; thaw run must exit with its 3.
counter_stop() {
	kill -USR1 "$PROG" || fail "$1: program $PROG is gone"
	wait_status "$THAW_PID"
	[ "$STATUS" = 3 ] || fail "$1: thaw run exited $STATUS, want 3: $(tail -n 5 "$TMP/$1.err")"
}

# counter NAME [THAW RUN ARGS...]: both.
counter() {
	counter_start "$@"
	counter_stop "$1"
}

# expect_err NAME TEXT: thaw run said TEXT on stderr.
expect_err() {
	grep -qF -- "$2" "$TMP/$1.err" || fail "$1: stderr lacks '$2': $(cat "$TMP/$1.err")"
}

# was_cold NAME: a cold start that snapshotted; was_restored NAME: restored, same memory as cold.
was_cold() {
	grep -q '^before snapshot point$' "$TMP/$1.out" || fail "$1: not a cold start: $(cat "$TMP/$1.out")"
	grep -q '^result snapshotted$' "$TMP/$1.out" ||
		fail "$1: no snapshot: $(cat "$TMP/$1.out" "$TMP/$1.err")"
	expect_err "$1" "thaw: snapshot created sdk-counter "
}

was_restored() {
	local cold=${2:-cold}
	expect_err "$1" "thaw: restored sdk-counter from snapshot in "
	grep -q '^result restored$' "$TMP/$1.out" || fail "$1: $(cat "$TMP/$1.out" "$TMP/$1.err")"
	grep -q '^before snapshot point$' "$TMP/$1.out" &&
		fail "$1: output from before the snapshot point again"
	grep -q '^hooks 1$' "$TMP/$1.out" || fail "$1: the restore hook did not run once"
	[ "$(grep '^sum' "$TMP/$cold.out")" = "$(grep '^sum' "$TMP/$1.out")" ] ||
		fail "$1: the memory after the snapshot point differs from $cold's"
	[ "$(grep '^random' "$TMP/$cold.out")" != "$(grep '^random' "$TMP/$1.out")" ] ||
		fail "$1: the restore hook did not reseed"
}

# no_copies DIR: no staged dump left beside the store's local tier, no rebuilt copy on "tmpfs".
no_copies() {
	[ -z "$(ls -A "$THAW_RESTORE_TMPDIR")" ] ||
		fail "rebuilt copies left: $(ls "$THAW_RESTORE_TMPDIR")"
	compgen -G "$1/dump-*" >/dev/null && fail "staging directory left in $1"
	return 0
}
