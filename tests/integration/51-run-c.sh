#!/bin/bash
# 51-run-c.sh - thaw run with the C SDK (libthaw): cold start, snapshot,
# restore with hooks and fresh randomness, exit status; a program that never
# reaches a snapshot point simply runs; a missing command is exit 127;
# a program that cannot be snapshotted says why and runs on; thaw snapshots lists and removes;
# the launch key leaves out the shell's _ and the like unless --env-keep puts one back.
. "$(dirname "$0")/../lib.sh"
need_thaw
need_prog sdk-counter
STORE=$TMP/store

# counter NAME: sdk-counter under thaw run (exit code 3), with the variables of
# RUN_ENV set; sets THAW_PID, PROG.
counter() {
	local name=$1 init i
	env ${RUN_ENV:-} "$THAW" ${THAW_V:-} run --store "$STORE" ${RUN_ARGS:-} -- "$PROGS/sdk-counter" 3 </dev/null >"$TMP/$name.out" \
		2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	wait_line "$name" '^second call'
	init=$(cat /proc/"$THAW_PID"/task/*/children 2>/dev/null | awk '{ print $1 }')
	for ((i = 0; i < 100; i++)); do
		PROG=$(awk '{ print $1 }' "/proc/$init/task/$init/children" 2>/dev/null)
		[ -n "$PROG" ] && break
		sleep 0.05
	done
	track "$init" "$PROG"
	kill -USR1 "$PROG" || fail "$name: no program"
	wait_status "$THAW_PID"
	[ "$STATUS" = 3 ] || fail "$name: thaw run exited $STATUS, want 3: $(cat "$TMP/$name.err")"
}

counter cold
grep -q '^result snapshotted$' "$TMP/cold.out" || fail "cold: $(cat "$TMP/cold.out")"
grep -q '^hooks 0$' "$TMP/cold.out" || fail "cold: hooks ran"
grep -q 'cold start: no snapshot yet' "$TMP/cold.err" || fail "cold: $(cat "$TMP/cold.err")"

counter warm
grep -q '^result restored$' "$TMP/warm.out" || fail "warm: $(cat "$TMP/warm.out" "$TMP/warm.err")"
grep -q '^hooks 1$' "$TMP/warm.out" || fail "warm: the restore hook did not run once"
grep -q '^second call restored$' "$TMP/warm.out" || fail "warm: second call"
grep -q '^before snapshot point$' "$TMP/warm.out" && fail "warm: output from before the snapshot point"
[ "$(grep '^sum' "$TMP/cold.out")" = "$(grep '^sum' "$TMP/warm.out")" ] || fail "memory differs"
[ "$(grep '^random' "$TMP/cold.out")" != "$(grep '^random' "$TMP/warm.out")" ] ||
	fail "the hook did not reseed"

# thaw run --lazy: the same restore through a page server (docs/lazy-restore.md)
RUN_ARGS=--lazy THAW_V=-v # shell variables: exported, they would be part of the run key
counter lazy
RUN_ARGS= THAW_V=
srv=$(sed -n 's/.*the page server is pid \([0-9]*\).*/\1/p' "$TMP/lazy.err")
[ -n "$srv" ] || fail "lazy: no page server: $(cat "$TMP/lazy.err")"
track "$srv"
grep -q '^result restored$' "$TMP/lazy.out" || fail "lazy: $(cat "$TMP/lazy.out" "$TMP/lazy.err")"
grep -q '^second call restored$' "$TMP/lazy.out" || fail "lazy: second call"
[ "$(grep '^sum' "$TMP/cold.out")" = "$(grep '^sum' "$TMP/lazy.out")" ] || fail "lazy: memory differs"
wait_gone "$srv" "$TIMEOUT" || fail "lazy: the page server outlived the program"

# outside thaw: disabled, runs the same
"$PROGS/sdk-counter" 4 </dev/null >"$TMP/plain.out" 2>&1 &
p=$!
track $p
wait_line plain '^second call'
kill -USR1 $p
wait_status $p
[ "$STATUS" = 4 ] || fail "plain: exit $STATUS"
grep -q '^result disabled$' "$TMP/plain.out" || fail "plain: $(cat "$TMP/plain.out")"

# no snapshot point: simply runs, with its exit status and its stdin/stdout
echo hello | "$THAW" run --store "$STORE" -- /bin/sh -c 'read x; echo "got $x"; exit 7' \
	>"$TMP/sh.out" 2>"$TMP/sh.err"
rc=$?
[ $rc = 7 ] || fail "sh: exit $rc: $(cat "$TMP/sh.err")"
grep -q '^got hello$' "$TMP/sh.out" || fail "sh: $(cat "$TMP/sh.out")"
# and sees itself as PID 2 under thaw's init
"$THAW" run --store "$STORE" -- /bin/sh -c 'echo $$ $PPID; cat /proc/self/stat' \
	>"$TMP/pid.out" 2>"$TMP/pid.err" </dev/null
[ "$(head -n 1 "$TMP/pid.out")" = "2 1" ] || fail "pid: $(cat "$TMP/pid.out")"

# a program the engine cannot snapshot (it holds a netlink socket): told why, runs on cold
cat >"$TMP/sock.py" <<'PY'
import socket, thaw
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
print("result", thaw.snapshot(), thaw.error(), flush=True)
PY
"$THAW" run --store "$STORE" -- /usr/bin/python3 "$TMP/sock.py" >"$TMP/sock.out" 2>"$TMP/sock.err" </dev/null
rc=$?
[ $rc = 0 ] || fail "sock: exit $rc: $(cat "$TMP/sock.err")"
grep -q '^result failed .*socket' "$TMP/sock.out" || fail "sock: $(cat "$TMP/sock.out")"
grep -q '^thaw: no snapshot of sock: ' "$TMP/sock.err" || fail "sock: $(cat "$TMP/sock.err")"
compgen -G "$STORE/*.next-*" >/dev/null && fail "sock: a staged snapshot was left in the store"

# a missing command
"$THAW" run --store "$STORE" -- /nonexistent/cmd >/dev/null 2>"$TMP/missing.err" </dev/null
rc=$?
[ $rc = 127 ] || fail "missing command: exit $rc"

# thaw snapshots: list, rm by name
"$THAW" snapshots --store "$STORE" >"$TMP/list.log" 2>&1 || fail "snapshots failed"
grep -q '^sdk-counter ' "$TMP/list.log" || fail "list: $(cat "$TMP/list.log")"
# restored twice: warm and lazy
grep -qE '^sdk-counter +[0-9a-f]{24} .* +2  ' "$TMP/list.log" ||
	fail "list lacks the restore count: $(cat "$TMP/list.log")"
"$THAW" snapshots --store "$STORE" --json | /usr/bin/python3 -c \
	'import json,sys; d=json.load(sys.stdin); assert d[0]["name"]=="sdk-counter" and d[0]["restored"]==2' ||
	fail "snapshots --json"
[ "$(stat -c %a "$STORE")" = 700 ] || fail "store mode"
for f in "$STORE"/*.json; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "metadata mode of $f"
done
"$THAW" snapshots --store "$STORE" rm sdk-counter >"$TMP/rm.log" 2>&1 || fail "rm: $(cat "$TMP/rm.log")"
"$THAW" snapshots --store "$STORE" >"$TMP/list2.log" 2>&1
grep -q '^sdk-counter ' "$TMP/list2.log" && fail "rm left the snapshot"
"$THAW" snapshots --store "$STORE" rm sdk-counter >/dev/null 2>&1 && fail "rm of nothing succeeded"
[ -z "$(ls "$STORE")" ] || fail "store not empty after rm: $(ls "$STORE")"
counter again
grep -q 'cold start: no snapshot yet' "$TMP/again.err" || fail "again: $(cat "$TMP/again.err")"

# the same command from two wrappers: the shell's _ (the last command's path), SHLVL and
# TERM differ, and none of them is part of the launch key (docs/runtime.md): restored
expect_result() { # NAME RESULT [STDERR LINE]
	grep -q "^result $2\$" "$TMP/$1.out" || fail "$1: want $2: $(cat "$TMP/$1.out" "$TMP/$1.err")"
	[ -z "${3:-}" ] || grep -qF "$3" "$TMP/$1.err" || fail "$1: stderr lacks '$3': $(cat "$TMP/$1.err")"
}
# (RUN_ENV and RUN_ARGS set apart: put before the call, they would be exported into the key)
RUN_ENV="_=/usr/local/bin/wrapper-one SHLVL=1 TERM=xterm"
counter wrapper1
expect_result wrapper1 restored
RUN_ENV="_=/usr/local/bin/wrapper-two SHLVL=4 TERM=dumb"
counter wrapper2
expect_result wrapper2 restored
# --env-keep _ puts it back: a cold start that names it, then _ is compared
RUN_ARGS="--env-keep _" RUN_ENV=_=/usr/local/bin/wrapper-one
counter keep1
expect_result keep1 snapshotted "thaw: cold start: environment variable _ was set"
RUN_ENV=_=/usr/local/bin/wrapper-two
counter keep2
expect_result keep2 snapshotted "thaw: cold start: environment variable _ changed"
counter keep3
expect_result keep3 restored
RUN_ARGS=
pass
