#!/bin/bash
# 59-run-root.sh - thaw run --root DIR[:PATH]: the program runs with a tree of
# its own as its root (a container's /proc, /dev, /sys, /tmp; pivot_root)
# under an overlay whose writes are thrown away; a snapshot taken there
# restores there (the engine's paths are the program's); a changed file of
# the tree, or another tree, is a cold start that says so; thaw restore
# alone refuses such a snapshot; DIR:PATH mounts the tree beside the host's
# root; SIGKILL of thaw run leaves no process and nothing mounted.
. "$(dirname "$0")/../lib.sh"
need_thaw
need_prog sdk-counter
STORE=$TMP/store
ROOT=$TMP/root

for tool in sh cat ls touch sleep; do
	copy_in "$ROOT" "$(command -v $tool)" "/bin/$tool"
done
copy_in "$ROOT" "$PROGS/sdk-counter" /app/sdk-counter
echo inside >"$ROOT/marker"

# nothing of ours mounted in the host's namespace
mounted() { grep -E "thaw-root|thaw-scratch|$TMP" /proc/self/mountinfo; }

# --- what the program sees
"$THAW" run --store "$STORE" --no-snapshot --root "$ROOT" -- /bin/sh -c '
	echo "pid $$"; cat /marker; ls /
	for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo "dev $d"; done
	[ -d /dev/pts ] && [ -d /dev/shm ] && [ -L /dev/fd ] && echo "dev dirs"
	[ -r /proc/self/stat ] && echo proc
	touch /sys/x 2>/dev/null || echo "sys read-only"
	touch /tmp/x && echo "tmp writable"
	echo scribble >/scribble && echo "root writable"' \
	>"$TMP/see.out" 2>"$TMP/see.err" </dev/null || fail "see: $(cat "$TMP/see.err")"
for want in 'pid 2' inside 'dev null' 'dev urandom' 'dev tty' 'dev dirs' proc 'sys read-only' \
	'tmp writable' 'root writable' app; do
	grep -qx "$want" "$TMP/see.out" || fail "see: no '$want' in $(cat "$TMP/see.out")"
done
grep -qx etc "$TMP/see.out" && fail "see: the host's /etc is visible"
[ -e "$ROOT/scribble" ] && fail "a write reached the tree"
"$THAW" run --store "$STORE" --no-snapshot --root "$ROOT" -- /bin/sh -c \
	'[ -e /scribble ] && echo left || echo gone' >"$TMP/again.out" 2>"$TMP/again.err" </dev/null
grep -qx gone "$TMP/again.out" || fail "the last run's writes are still there"
[ -z "$(mounted)" ] || fail "left mounted: $(mounted)"
[ -z "$(ls /run/thaw/roots 2>/dev/null | grep "^root-")" ] ||
	log "directories of other runs in /run/thaw/roots: $(ls /run/thaw/roots)"

# counter NAME ROOTSPEC CMD: sdk-counter under thaw run --root (exit code 3); sets PROG.
counter() {
	local name=$1 spec=$2 cmd=$3 init i
	"$THAW" run --store "$STORE" --root "$spec" -- "$cmd" 3 </dev/null >"$TMP/$name.out" \
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
	[ "$(cat "/proc/$PROG/root/marker" 2>/dev/null)" = inside ] ||
		[ "$spec" != "$ROOT" ] || fail "$name: the program's root is not the tree"
	kill -USR1 "$PROG" || fail "$name: no program"
	wait_status "$THAW_PID"
	[ "$STATUS" = 3 ] || fail "$name: thaw run exited $STATUS, want 3: $(cat "$TMP/$name.err")"
}

# --- a snapshot in the root, restored in the root
counter cold "$ROOT" /app/sdk-counter
grep -q '^result snapshotted$' "$TMP/cold.out" || fail "cold: $(cat "$TMP/cold.out" "$TMP/cold.err")"
counter warm "$ROOT" /app/sdk-counter
grep -q '^result restored$' "$TMP/warm.out" || fail "warm: $(cat "$TMP/warm.out" "$TMP/warm.err")"
[ "$(grep '^sum' "$TMP/cold.out")" = "$(grep '^sum' "$TMP/warm.out")" ] || fail "memory differs"
# the snapshot holds the program's paths, not the host's
grep -rq '"/app/sdk-counter"' "$STORE"/*/manifest.json || fail "the manifest lacks /app/sdk-counter"
grep -rq "$ROOT/app" "$STORE"/*/manifest.json && fail "the manifest holds host paths"

# thaw restore cannot set the root up: it refuses, and says why
SNAP=$(ls -d "$STORE"/*/ | head -n 1)
"$THAW" restore --dir "$SNAP" >"$TMP/alone.out" 2>"$TMP/alone.err" </dev/null &&
	fail "thaw restore of a --root snapshot succeeded"
grep -q 'container root' "$TMP/alone.err" || fail "alone: $(cat "$TMP/alone.err")"

# --- a file of the tree changed: a cold start naming it, as the program sees it
touch -d '2001-01-01' "$ROOT/lib/x86_64-linux-gnu/libc.so.6"
counter libc "$ROOT" /app/sdk-counter
grep -q 'cold start: /lib/x86_64-linux-gnu/libc.so.6 changed' "$TMP/libc.err" ||
	fail "libc: $(cat "$TMP/libc.err")"
grep -q '^result snapshotted$' "$TMP/libc.out" || fail "libc: $(cat "$TMP/libc.out")"

# --- another tree: a cold start that says so
cp -a "$ROOT" "$TMP/root2"
counter other "$TMP/root2" /app/sdk-counter
grep -q 'cold start: root directory changed' "$TMP/other.err" || fail "other: $(cat "$TMP/other.err")"

# --- DIR:PATH, the tree beside the host's root
mkdir -p "$TMP/venv" "$TMP/mnt"
copy_in "$TMP/venv" "$PROGS/sdk-counter" /sdk-counter
echo beside >"$TMP/venv/hello"
"$THAW" run --store "$STORE" --no-snapshot --root "$TMP/venv:$TMP/mnt" -- /bin/sh -c \
	"cat $TMP/mnt/hello; echo x >$TMP/mnt/new; cat $TMP/mnt/new; [ -d /etc ] && echo host" \
	>"$TMP/beside.out" 2>"$TMP/beside.err" </dev/null || fail "beside: $(cat "$TMP/beside.err")"
[ "$(tr '\n' ' ' <"$TMP/beside.out")" = "beside x host " ] || fail "beside: $(cat "$TMP/beside.out")"
[ -z "$(ls "$TMP/mnt")" ] || fail "the host's mount point got files: $(ls "$TMP/mnt")"
[ -e "$TMP/venv/new" ] && fail "a write reached the tree"
counter bcold "$TMP/venv:$TMP/mnt" "$TMP/mnt/sdk-counter"
grep -q '^result snapshotted$' "$TMP/bcold.out" || fail "bcold: $(cat "$TMP/bcold.out" "$TMP/bcold.err")"
counter bwarm "$TMP/venv:$TMP/mnt" "$TMP/mnt/sdk-counter"
grep -q '^result restored$' "$TMP/bwarm.out" || fail "bwarm: $(cat "$TMP/bwarm.out" "$TMP/bwarm.err")"

# --- bad specs are usage errors, before anything runs
"$THAW" run --store "$STORE" --root "$TMP/nonexistent" -- /bin/true >/dev/null 2>&1
[ $? = 2 ] || fail "a missing --root directory is not exit 2"
"$THAW" run --store "$STORE" --root "$ROOT:$TMP/nonexistent" -- /bin/true >/dev/null 2>&1
[ $? = 2 ] || fail "a missing mount point is not exit 2"
"$THAW" run --store "$STORE" --root "$ROOT" -- /bin/true >/dev/null 2>&1
[ $? = 127 ] || fail "a command missing from the root is not exit 127"

# --- SIGKILL of thaw run: the program goes with it, and nothing stays mounted
"$THAW" run --store "$STORE" --no-snapshot --root "$ROOT" -- /bin/sh -c 'echo up; exec sleep 1000' \
	>"$TMP/kill.out" 2>"$TMP/kill.err" &
THAW_PID=$!
track "$THAW_PID"
wait_line kill '^up$'
init=$(cat /proc/"$THAW_PID"/task/*/children 2>/dev/null | awk '{ print $1 }')
prog=$(cat /proc/"$init"/task/*/children 2>/dev/null | awk '{ print $1 }')
track "$init" "$prog"
base=$(grep -o '/run/thaw/roots/root-[A-Za-z0-9]*' "/proc/$prog/mountinfo" | head -n 1)
[ -n "$base" ] || fail "kill: no overlay in the program's mounts"
kill -KILL "$THAW_PID"
wait_gone "$init" || fail "kill: the program's init outlived thaw run"
wait_gone "$prog" || fail "kill: the program outlived thaw run"
[ -z "$(mounted)" ] || fail "left mounted: $(mounted)"
# its directory (empty) goes with the next --root start
[ -z "$(ls -A "$base" 2>/dev/null)" ] || fail "kill: $base is not empty"
"$THAW" run --store "$STORE" --no-snapshot --root "$ROOT" -- /bin/sh -c true </dev/null >/dev/null 2>"$TMP/after.err" ||
	fail "the start after the kill failed: $(cat "$TMP/after.err")"
[ -e "$base" ] && fail "kill: $base was not swept"
pass
