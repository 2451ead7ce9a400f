#!/bin/bash
# 54-store-engine.sh - thaw dump/restore through the store: a local store and
# an HTTP store (nginx WebDAV on 127.0.0.1, cold cache); the restored programs
# check themselves (SIGUSR1); their pages come straight from the chunks, no
# copy of pages.img is made; the staging and rebuilt files are gone after; a
# corrupted chunk is a clear error and nothing of the process is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
need_thaw
need_prog basic
need_prog threads
"$THAW" dump --help 2>&1 | grep -q -- --store || skip "this thaw dump has no --store"
# the rebuilt files go here instead of /dev/shm, so the test can see them come and go
export THAW_RESTORE_TMPDIR=$TMP/shm
mkdir -p "$THAW_RESTORE_TMPDIR"

# sdump PID ARGS...: thaw dump into a store, output in $TMP/dump.log.
sdump() {
	local pid=$1
	shift
	timeout -k 5 120 "$THAW" dump --pid "$pid" "$@" >"$TMP/dump.log" 2>&1 ||
		fail "thaw dump --pid $pid $* failed: $(tail -n 5 "$TMP/dump.log")"
	wait_gone "$pid" 5 || fail "pid $pid still runs after thaw dump"
	log "thaw dump --pid $pid $*"
}

# srestore NAME ARGS...: thaw restore --detach from a store; sets PID.
srestore() {
	local name=$1 pidf=$TMP/$1.pidfile rcf=$TMP/$1.rc catf=$TMP/$1.catpid rc pid i
	shift
	: >"$TMP/$name.out"
	: >"$TMP/$name.err"
	rm -f "$pidf" "$rcf" "$catf"
	(
		{
			timeout -k 5 120 "$THAW" -v restore "$@" --detach --pidfile "$pidf" \
				</dev/null 2>>"$TMP/$name.err"
			echo $? >"$rcf.tmp" && mv "$rcf.tmp" "$rcf"
		} | {
			echo $BASHPID >"$catf"
			exec cat >>"$TMP/$name.out"
		}
	) &
	track $!
	for ((i = 0; i < 130 * 20; i++)); do
		[ -s "$rcf" ] && break
		sleep 0.05
	done
	track "$(cat "$catf" 2>/dev/null)"
	rc=$(cat "$rcf" 2>/dev/null)
	pid=$(read_pidfile "$pidf") && track_restored "$pid"
	[ "$rc" = 0 ] || fail "$name: thaw restore $* exited ${rc:-?}: $(tail -n 5 "$TMP/$name.err")"
	alive "$pid" || fail "$name: restored pid $pid is not running"
	PID=$pid
	log "$name: restored ($*) as pid $PID"
}

ppid_of() {
	awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# held_copy PID...: prints "PID FD TARGET" for an fd to a pages.img
held_copy() {
	local p f
	for p in "$@"; do
		for f in /proc/"$p"/fd/*; do
			case $(readlink "$f" 2>/dev/null) in
			*pages.img*) echo "$p ${f##*/} $(readlink "$f")" && return 0 ;;
			esac
		done
	done
	return 1
}

# no_held_copy PID...: soon, none of these processes (the program, its init,
# a foreground thaw) holds an fd to the rebuilt pages.img placeholder;
# init closes its one just after it reports the program running
no_held_copy() {
	local i held
	for ((i = 0; i < 100; i++)); do
		held=$(held_copy "$@") || return 0
		sleep 0.05
	done
	fail "the rebuilt pages.img is still held (pid fd target): $held"
}

no_copies() {
	[ -z "$(ls -A "$THAW_RESTORE_TMPDIR")" ] || fail "rebuilt copies left: $(ls "$THAW_RESTORE_TMPDIR")"
	compgen -G "$1/dump-*" >/dev/null && fail "staging directory left in $1"
	return 0
}

# --- a local store
start basic "$PROGS/basic" --threads 3
wait_ready basic
sleep 0.3
sdump "$PID" --store "$TMP/store" --name basic
[ -s "$TMP/store/names/basic" ] || fail "no name basic in the store"
no_copies "$TMP/store"
srestore basic-r --store "$TMP/store" --name basic
grep -q "bytes of pages decoded into 1 file" "$TMP/basic-r.err" ||
	fail "the pages did not come straight from the chunks: $(tail -n 5 "$TMP/basic-r.err")"
no_copies "$TMP/store"
no_held_copy "$PID" "$(ppid_of "$PID")"
sleep 0.3
finish basic-r "$PID"

# the same snapshot again, in the foreground: the copy is gone while it runs
: >"$TMP/basic-fg.out"
"$THAW" restore --store "$TMP/store" --name basic --pidfile "$TMP/fg.pid" \
	</dev/null >>"$TMP/basic-fg.out" 2>>"$TMP/basic-fg.err" &
THAW_PID=$!
track "$THAW_PID"
PID=$(read_pidfile "$TMP/fg.pid") || fail "foreground restore wrote no pidfile"
track_restored "$PID"
no_copies "$TMP/store"
no_held_copy "$PID" "$(ppid_of "$PID")" "$THAW_PID"
finish basic-fg "$PID"
wait_status "$THAW_PID"
[ "$STATUS" = 0 ] || fail "foreground thaw restore exited $STATUS"

# --- an HTTP store with a cold cache on the restoring side
. "$(dirname "$0")/../store/nginx.sh"
nginx_start
start threads "$PROGS/threads"
wait_ready threads
sleep 0.3
sdump "$PID" --store "$NGINX_URL" --cache "$TMP/cache1" --name threads
[ -s "$TMP/www/store/names/threads" ] || fail "the name was not PUT to the server"
no_copies "$TMP/cache1"
srestore threads-r --store "$NGINX_URL" --cache "$TMP/cache2" --name threads
# the chunks fetched go into the cache once the program runs: every one
[ "$(find "$TMP/cache2/chunks" -type f | wc -l)" = \
  "$(find "$TMP/www/store/chunks" -type f | wc -l)" ] || fail "the cache was not filled"
sleep 0.3
finish threads-r "$PID"
no_copies "$TMP/cache2"

# --- a corrupted chunk: a clear error, nothing restored, nothing left behind
c=$(some_chunk "$TMP/store")
id=${c##*/}
flip_byte "$c" 300
rm -f "$TMP/bad.pid"
timeout -k 5 60 "$THAW" restore --store "$TMP/store" --name basic --detach \
	--pidfile "$TMP/bad.pid" </dev/null >"$TMP/bad.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "restore from a corrupted store exited $rc: $(tail -n 5 "$TMP/bad.log")"
grep -qE "chunk $id.*snapshot basic.*no tier has a good copy" "$TMP/bad.log" ||
	fail "no clear error for the bad chunk: $(tail -n 5 "$TMP/bad.log")"
[ -s "$TMP/bad.pid" ] && fail "a process was restored from a corrupted store"
# the tree had its memory mapped when the chunk failed: nothing of it is left
pgrep -f "^$PROGS/basic --threads 3" >/dev/null && fail "a half-restored basic is left"
no_copies "$TMP/store"
# the same, in the HTTP store with a cold cache
flip_byte "$TMP/www/store/chunks/$(some_chunk "$TMP/cache2" | sed 's|.*/||')" 300
timeout -k 5 60 "$THAW" restore --store "$NGINX_URL" --cache "$TMP/cache3" --name threads \
	--detach --pidfile "$TMP/bad.pid" </dev/null >"$TMP/bad.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "restore from a corrupted HTTP store exited $rc"
grep -qE "snapshot threads.*no tier has a good copy" "$TMP/bad.log" ||
	fail "no clear error for the bad HTTP chunk: $(tail -n 5 "$TMP/bad.log")"
[ -s "$TMP/bad.pid" ] && fail "a process was restored from a corrupted HTTP store"
no_copies "$TMP/cache3"
pass
