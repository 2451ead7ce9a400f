#!/bin/bash
# 59-run-image.sh - thaw run --image NAME[:PATH]: the program's root is an
# image of the store (thaw image push), mounted lazily by a FUSE server of
# thaw run's own, under a throw-away overlay; a snapshot taken there
# restores there, the files known by their content digests from the index;
# the image pushed again with one file changed is a cold start naming the
# image; NAME:PATH mounts it beside the host's root; the server and every
# mount go with thaw run, SIGKILL included.
. "$(dirname "$0")/../lib.sh"
need_thaw
need_prog sdk-counter
[ -c /dev/fuse ] || skip "no /dev/fuse"
STORE=$TMP/store
ISTORE=$TMP/images
ROOT=$TMP/root

for tool in sh cat sleep; do
	copy_in "$ROOT" "$(command -v $tool)" "/bin/$tool"
done
copy_in "$ROOT" "$PROGS/sdk-counter" /app/sdk-counter
echo one >"$ROOT/marker"
"$THAW" image push "$ROOT" --store "$ISTORE" --name app >"$TMP/push.log" 2>&1 ||
	fail "push: $(cat "$TMP/push.log")"

mounted() { grep -E "thaw-root|thaw-scratch|thaw-image:app|$TMP" /proc/self/mountinfo; }
# the thaw run pid's children: the image's server and the program's init; sets SERVER, INIT, PROG
children() {
	local c i
	SERVER= INIT= PROG=
	for ((i = 0; i < 100; i++)); do
		for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
			if [ -n "$(cat /proc/"$c"/task/*/children 2>/dev/null)" ]; then
				INIT=$c
				PROG=$(awk '{ print $1 }' /proc/"$c"/task/*/children 2>/dev/null)
			else
				SERVER=$c
			fi
		done
		[ -n "$PROG" ] && [ -n "$SERVER" ] && break
		sleep 0.05
	done
	track "$SERVER" "$INIT" "$PROG"
}

"$THAW" run --store "$STORE" --no-snapshot --image app --image-store "$ISTORE" -- /bin/sh -c \
	'echo "pid $$"; cat /marker; echo x >/marker; cat /marker; [ -c /dev/null ] && echo dev' \
	>"$TMP/see.out" 2>"$TMP/see.err" </dev/null || fail "see: $(cat "$TMP/see.err")"
[ "$(tr '\n' ' ' <"$TMP/see.out")" = "pid 2 one x dev " ] || fail "see: $(cat "$TMP/see.out")"
[ -z "$(mounted)" ] || fail "left mounted: $(mounted)"

# counter NAME SPEC CMD: sdk-counter under thaw run --image (exit code 3)
counter() {
	local name=$1 spec=$2 cmd=$3
	"$THAW" run --store "$STORE" --image "$spec" --image-store "$ISTORE" -- "$cmd" 3 \
		</dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	wait_line "$name" '^second call'
	children "$THAW_PID"
	[ -n "$SERVER" ] || fail "$name: no image server"
	kill -USR1 "$PROG" || fail "$name: no program"
	wait_status "$THAW_PID"
	[ "$STATUS" = 3 ] || fail "$name: thaw run exited $STATUS, want 3: $(cat "$TMP/$name.err")"
	wait_gone "$SERVER" || fail "$name: the image server outlived thaw run"
}

counter cold app /app/sdk-counter
grep -q '^result snapshotted$' "$TMP/cold.out" || fail "cold: $(cat "$TMP/cold.out" "$TMP/cold.err")"
counter warm app /app/sdk-counter
grep -q '^result restored$' "$TMP/warm.out" || fail "warm: $(cat "$TMP/warm.out" "$TMP/warm.err")"
[ "$(grep '^sum' "$TMP/cold.out")" = "$(grep '^sum' "$TMP/warm.out")" ] || fail "memory differs"
# the key holds the image's identity; the digests are the index's
grep -q '"image": "app"' "$STORE"/*.json || fail "the key lacks the image"
[ -n "$(ls "$STORE"/*/digests.json 2>/dev/null)" ] || fail "no content digests"

# the image pushed again with one file changed: a cold start that names it
echo two >"$ROOT/marker"
"$THAW" image push "$ROOT" --store "$ISTORE" --name app >"$TMP/push2.log" 2>&1 ||
	fail "push2: $(cat "$TMP/push2.log")"
counter changed app /app/sdk-counter
grep -q 'cold start: image app changed' "$TMP/changed.err" || fail "changed: $(cat "$TMP/changed.err")"
grep -q '^result snapshotted$' "$TMP/changed.out" || fail "changed: $(cat "$TMP/changed.out")"
counter again app /app/sdk-counter
grep -q '^result restored$' "$TMP/again.out" || fail "again: $(cat "$TMP/again.out" "$TMP/again.err")"

# NAME:PATH: the image beside the host's root
mkdir -p "$TMP/mnt"
counter bcold "app:$TMP/mnt" "$TMP/mnt/app/sdk-counter"
grep -q '^result snapshotted$' "$TMP/bcold.out" || fail "bcold: $(cat "$TMP/bcold.out" "$TMP/bcold.err")"
counter bwarm "app:$TMP/mnt" "$TMP/mnt/app/sdk-counter"
grep -q '^result restored$' "$TMP/bwarm.out" || fail "bwarm: $(cat "$TMP/bwarm.out" "$TMP/bwarm.err")"
[ -z "$(ls "$TMP/mnt")" ] || fail "the host's mount point got files"

# a missing image: no start, exit 1, nothing left
"$THAW" run --store "$STORE" --image nosuch --image-store "$ISTORE" -- /bin/sh -c true \
	>/dev/null 2>"$TMP/nosuch.err" </dev/null
[ $? = 1 ] || fail "a missing image is not exit 1: $(cat "$TMP/nosuch.err")"

# SIGKILL of thaw run: program, init and server go with it, and every mount
"$THAW" run --store "$STORE" --no-snapshot --image app --image-store "$ISTORE" -- \
	/bin/sh -c 'echo up; exec sleep 1000' >"$TMP/kill.out" 2>"$TMP/kill.err" </dev/null &
THAW_PID=$!
track "$THAW_PID"
wait_line kill '^up$'
children "$THAW_PID"
kill -KILL "$THAW_PID"
for p in "$INIT" "$PROG" "$SERVER"; do
	wait_gone "$p" || fail "kill: pid $p outlived thaw run"
done
[ -z "$(mounted)" ] || fail "left mounted: $(mounted)"
pass
