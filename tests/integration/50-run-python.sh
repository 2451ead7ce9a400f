#!/bin/bash
# 50-run-python.sh - thaw run with the Python SDK: the first start snapshots
# at the snapshot point and goes on, later starts restore; hooks run the
# right number of times in the right order; two restored copies draw
# different random numbers and UUIDs; a changed argument, environment
# variable or mapped file, and a corrupted snapshot, each give a cold start
# with the reason; exit status and signal forwarding on both paths.
. "$(dirname "$0")/../lib.sh"
need_thaw
PY=/usr/bin/python3
[ -x $PY ] || skip "no $PY"
WORKER=$(cd "$(dirname "$0")/../programs" && pwd)/sdk_worker.py
STORE=$TMP/store
HOOKS=$TMP/hooks.log
export SDK_WORKER_MAP=$TMP/mapped.bin
head -c 65536 /dev/urandom >"$SDK_WORKER_MAP"

# run_bg NAME [ENV=V...] ARGS...: thaw run in the background; THAW_PID, PROG set once READY.
run_bg() {
	local name=$1 i init
	shift
	: >"$TMP/$name.out"
	env "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	wait_ready "$name"
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

# worker NAME [ENV=V...]: runs the worker under thaw run with exit code 5.
worker() {
	local name=$1
	shift
	run_bg "$name" "$@" "$THAW" run --store "$STORE" --json-events "$TMP/events.json" -- \
		$PY "$WORKER" "$HOOKS" 5
}

# stop NAME: SIGUSR1 to the program; thaw run must exit with the program's 5.
stop() {
	kill -USR1 "$PROG" || fail "$1: program $PROG is gone"
	wait_status "$THAW_PID"
	[ "$STATUS" = 5 ] || fail "$1: thaw run exited $STATUS, want 5"
	grep -q '^bye$' "$TMP/$1.out" || fail "$1: the program did not finish"
}

expect_err() {
	grep -qF -- "$2" "$TMP/$1.err" || fail "$1: stderr lacks '$2': $(cat "$TMP/$1.err")"
}

count() {
	grep -c "^$1\$" "$HOOKS"
}

# 1. first start: cold, snapshot, goes on
worker cold
stop cold
expect_err cold "thaw: cold start: no snapshot yet"
expect_err cold "thaw: snapshot created sdk_worker "
grep -q '^result snapshotted$' "$TMP/cold.out" || fail "cold: $(cat "$TMP/cold.out")"
grep -q '^starting$' "$TMP/cold.out" || fail "cold: no output before the snapshot point"

# 2. second start: restored, same state, nothing before the snapshot point repeated
worker warm
stop warm
expect_err warm "thaw: restored sdk_worker from snapshot in "
grep -q '^result restored$' "$TMP/warm.out" || fail "warm: $(cat "$TMP/warm.out")"
grep -q '^starting$' "$TMP/warm.out" && fail "warm: output from before the snapshot point again"
[ "$(grep '^state' "$TMP/cold.out")" = "$(grep '^state' "$TMP/warm.out")" ] ||
	fail "first line after the snapshot point differs"

# 3. hooks: snap=True once, snap=False every start, on_restore before snap=False;
# a bare @thaw.enter and @thaw.enter() are snap=False (Modal's default): they run
# again after the restore, with a fresh timestamp, where snap=True's is the snapshot's
[ "$(count load)" = 1 ] && [ "$(count warm)" = 1 ] || fail "snap=True hooks ran again: $(cat "$HOOKS")"
[ "$(count open)" = 2 ] || fail "snap=False hooks: $(cat "$HOOKS")"
[ "$(count bare)" = 2 ] || fail "bare @thaw.enter did not run on every start: $(cat "$HOOKS")"
[ "$(count call)" = 2 ] || fail "@thaw.enter() did not run on every start: $(cat "$HOOKS")"
[ "$(count restore)" = 1 ] || fail "on_restore hooks: $(cat "$HOOKS")"
[ "$(tr '\n' ' ' <"$HOOKS")" = "load warm open bare call restore open bare call " ] ||
	fail "hook order: $(cat "$HOOKS")"
a=$(grep '^loaded ' "$TMP/cold.out") b=$(grep '^loaded ' "$TMP/warm.out")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "snap=True ran again after the restore: $a / $b"
a=$(grep '^entered ' "$TMP/cold.out") b=$(grep '^entered ' "$TMP/warm.out")
[ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] ||
	fail "bare @thaw.enter kept the snapshot's side effect: $a / $b"

# 4. two restored copies at once draw different random numbers and UUIDs
worker copy1
P1=$PROG T1=$THAW_PID
worker copy2
grep -q '^result restored$' "$TMP/copy1.out" && grep -q '^result restored$' "$TMP/copy2.out" ||
	fail "copies were not restored"
for what in random uuid; do
	a=$(grep "^$what " "$TMP/copy1.out") b=$(grep "^$what " "$TMP/copy2.out")
	[ -n "$a" ] && [ "$a" != "$b" ] || fail "restored copies share $what: $a / $b"
done
a=$(grep "^random " "$TMP/cold.out")
[ "$a" != "$(grep '^random ' "$TMP/copy1.out")" ] || fail "restored copy repeats the first start's random"
stop copy2
PROG=$P1 THAW_PID=$T1
stop copy1

# 5. THAW_KEEP_RANDOM=1: the stream is the snapshot's
worker keep THAW_KEEP_RANDOM=1
stop keep
expect_err keep "cold start: environment variable THAW_KEEP_RANDOM was set"

# 6. a changed argument
run_bg arg "$THAW" run --store "$STORE" -- $PY "$WORKER" "$HOOKS" 6
kill -USR1 "$PROG"
wait_status "$THAW_PID"
[ "$STATUS" = 6 ] || fail "arg: exit status $STATUS, want 6"
expect_err arg "thaw: cold start: argument 3 changed"

# 7. a changed environment variable
worker env1 SDK_WORKER_FLAVOUR=a
stop env1
worker env2 SDK_WORKER_FLAVOUR=b
stop env2
expect_err env2 "thaw: cold start: environment variable SDK_WORKER_FLAVOUR changed"
worker env3 SDK_WORKER_FLAVOUR=b
stop env3
expect_err env3 "thaw: restored sdk_worker"

# 8. a touched mapped file: cold start naming it, then restored again
touch -d '2001-01-01' "$SDK_WORKER_MAP"
worker touched
stop touched
expect_err touched "thaw: cold start: $SDK_WORKER_MAP changed"
grep -q '^result snapshotted$' "$TMP/touched.out" || fail "touched: not re-snapshotted"
worker after
stop after
expect_err after "thaw: restored sdk_worker"

# 9. a corrupted snapshot: cold start, not failure; re-snapshotted
key=$(grep -l '"argv"' "$STORE"/*.json | head -n 1)
snap=
for f in "$STORE"/*.json; do
	grep -q '"SDK_WORKER_FLAVOUR"' "$f" && continue
	grep -q '"THAW_KEEP_RANDOM"' "$f" && continue
	grep -q '"6"' "$f" && continue
	snap=${f%.json}
done
[ -d "$snap" ] || fail "cannot find the worker's snapshot in $STORE ($key)"
size=$(stat -c %s "$snap/pages.img")
printf 'garbage!' | dd of="$snap/pages.img" bs=1 seek=$((size / 2)) conv=notrunc status=none
worker corrupt
stop corrupt
expect_err corrupt "thaw: cold start: restore failed"
grep -q '^result snapshotted$' "$TMP/corrupt.out" || fail "corrupt: not re-snapshotted"
worker healed
stop healed
expect_err healed "thaw: restored sdk_worker"

# 10. signals are forwarded: SIGTERM to thaw run reaches the program (restored and cold)
worker term
kill -TERM "$THAW_PID"
wait_status "$THAW_PID"
[ "$STATUS" = 143 ] || fail "term: exit status $STATUS, want 143"
grep -q '^term$' "$TMP/term.out" || fail "term: the program did not see SIGTERM"
run_bg termcold "$THAW" run --store "$STORE" --no-snapshot -- $PY "$WORKER" "$HOOKS" 5
kill -TERM "$THAW_PID"
wait_status "$THAW_PID"
[ "$STATUS" = 143 ] || fail "termcold: exit status $STATUS, want 143"
grep -q '^result disabled$' "$TMP/termcold.out" || fail "termcold: $(cat "$TMP/termcold.out")"

# 11. events as JSON lines
for ev in cold_start snapshot_created restored exit; do
	grep -q "\"event\":\"$ev\"" "$TMP/events.json" || fail "no $ev event in events.json"
done
$PY -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TMP/events.json" ||
	fail "events.json is not JSON lines"
pass
