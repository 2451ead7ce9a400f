#!/bin/bash
# 59-run-image.sh - thaw run --image NAME[:PATH]: the program's root is an
# image of the store (thaw image push), mounted lazily by a FUSE server,
# under a throw-away overlay; a snapshot taken there restores there, the
# files known by their content digests from the index; the image pushed
# again with one file changed is a cold start naming the image; NAME:PATH
# mounts it beside the host's root.  By default the mount is shared by the
# image's runs (/run/thaw/images/KEY: one server, and the page cache stays
# between runs), outlives a SIGKILLed thaw run, and goes once unused for
# --image-keep seconds; with --image-keep 0 the server and every mount go
# with thaw run, SIGKILL included.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../imagefs/imagefs-lib.sh"
need_fuse
need_prog sdk-counter
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

# mounts left behind, but for the shared ones
mounted() { grep -E "thaw-root|thaw-scratch|thaw-image:app|$TMP" /proc/self/mountinfo | grep -v " /run/thaw/images/"; }
# shared ERRFILE: the shared mount a run says it made; sets SHARED (the mount point), SPID
shared() {
	SHARED=$(sed -n 's|.*image app mounted at \(/run/thaw/images/[0-9a-f]*\) .*|\1|p' "$1")
	[ -n "$SHARED" ] || fail "no shared mount was made: $(cat "$1")"
	MOUNTS+=("$SHARED")
	SPID=$(cat "$SHARED.pid")
	track "$SPID"
	alive "$SPID" || fail "the shared mount's server $SPID is not running"
	is_mounted "$SHARED" || fail "$SHARED is not mounted"
}
# children PID [own]: the thaw run's children: the program's init and, with
# "own" (--image-keep 0), the image's server; sets SERVER, INIT, PROG
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
		[ -n "$PROG" ] && { [ -n "$SERVER" ] || [ "${2:-}" != own ]; } && break
		sleep 0.05
	done
	track "$SERVER" "$INIT" "$PROG"
}

"$THAW" run --store "$STORE" --no-snapshot --image app --image-store "$ISTORE" -- /bin/sh -c \
	'echo "pid $$"; cat /marker; echo x >/marker; cat /marker; [ -c /dev/null ] && echo dev' \
	>"$TMP/see.out" 2>"$TMP/see.err" </dev/null || fail "see: $(cat "$TMP/see.err")"
[ "$(tr '\n' ' ' <"$TMP/see.out")" = "pid 2 one x dev " ] || fail "see: $(cat "$TMP/see.out")"
[ -z "$(mounted)" ] || fail "left mounted: $(mounted)"
shared "$TMP/see.err"
FIRST=$SHARED FIRST_PID=$SPID

# counter NAME SPEC CMD [ARGS]: sdk-counter under thaw run --image ARGS (exit code 3)
counter() {
	local name=$1 spec=$2 cmd=$3
	shift 3
	"$THAW" run --store "$STORE" --image "$spec" --image-store "$ISTORE" "$@" -- "$cmd" 3 \
		</dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	wait_line "$name" '^second call'
	children "$THAW_PID" "$([ "$*" = "--image-keep 0" ] && echo own)"
	kill -USR1 "$PROG" || fail "$name: no program"
	wait_status "$THAW_PID"
	[ "$STATUS" = 3 ] || fail "$name: thaw run exited $STATUS, want 3: $(cat "$TMP/$name.err")"
	if [ "$*" = "--image-keep 0" ]; then
		[ -n "$SERVER" ] || fail "$name: no image server of thaw run's own"
		wait_gone "$SERVER" || fail "$name: the image server outlived thaw run"
	fi
}

counter cold app /app/sdk-counter
grep -q '^result snapshotted$' "$TMP/cold.out" || fail "cold: $(cat "$TMP/cold.out" "$TMP/cold.err")"
counter warm app /app/sdk-counter
grep -q '^result restored$' "$TMP/warm.out" || fail "warm: $(cat "$TMP/warm.out" "$TMP/warm.err")"
grep -q "mounted at" "$TMP/cold.err" "$TMP/warm.err" && fail "a run mounted the image again"
[ "$(cat "$FIRST.pid")" = "$FIRST_PID" ] && alive "$FIRST_PID" || fail "the shared server changed"
# thaw run's own mount (--image-keep 0) restores the same snapshot
counter own app /app/sdk-counter --image-keep 0
grep -q '^result restored$' "$TMP/own.out" || fail "own: $(cat "$TMP/own.out" "$TMP/own.err")"
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
shared "$TMP/changed.err"
[ "$SHARED" != "$FIRST" ] || fail "the changed image was served by the old mount"
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

# SIGKILL of thaw run: program and init go with it, and every mount of its
# own; with --image-keep 0 its server too; a shared one serves the next run
for keep in 0 600; do
	"$THAW" run --store "$STORE" --no-snapshot --image app --image-store "$ISTORE" \
		--image-keep $keep -- /bin/sh -c 'echo up; exec sleep 1000' \
		>"$TMP/kill.out" 2>"$TMP/kill.err" </dev/null &
	THAW_PID=$!
	track "$THAW_PID"
	wait_line kill '^up$'
	children "$THAW_PID" "$([ $keep = 0 ] && echo own)"
	[ $keep = 0 ] && [ -z "$SERVER" ] && fail "kill: no image server of thaw run's own"
	kill -KILL "$THAW_PID"
	for p in "$INIT" "$PROG" "$SERVER"; do
		wait_gone "$p" || fail "kill: pid $p outlived thaw run"
	done
	[ -z "$(mounted)" ] || fail "left mounted: $(mounted)"
done
alive "$SPID" || fail "the shared server died with a SIGKILLed thaw run"
"$THAW" run --store "$STORE" --no-snapshot --image app --image-store "$ISTORE" -- /bin/cat /marker \
	>"$TMP/after.out" 2>"$TMP/after.err" </dev/null || fail "after: $(cat "$TMP/after.err")"
[ "$(cat "$TMP/after.out")" = two ] || fail "after: $(cat "$TMP/after.out")"

# --image-keep 1, a store of its own (another mount): the server ends by itself once unused
"$THAW" image push "$ROOT" --store "$TMP/images2" --name app >"$TMP/push3.log" 2>&1 ||
	fail "push3: $(cat "$TMP/push3.log")"
"$THAW" run --store "$STORE" --no-snapshot --image app --image-store "$TMP/images2" \
	--image-keep 1 -- /bin/cat /marker >"$TMP/idle.out" 2>"$TMP/idle.err" </dev/null ||
	fail "idle: $(cat "$TMP/idle.err")"
shared "$TMP/idle.err"
wait_gone "$SPID" || fail "an unused shared mount's server did not end"
is_mounted "$SHARED" && fail "an unused shared mount stayed"
[ -e "$SHARED" ] && fail "the server left its mount point $SHARED"

# the shared mounts go with the script (imagefs-lib.sh), their servers then end
for m in "${MOUNTS[@]}"; do
	is_mounted "$m" && { pid=$(cat "$m.pid"); img_ok umount "$m"; wait_gone "$pid" || fail "umount $m: server $pid stays"; }
done
pass
