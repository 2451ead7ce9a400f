#!/bin/bash
# restore.sh - kill -9 of `thaw restore`, from a directory and from a store,
# detached and in the foreground, at random moments and at the named fault
# point between "everything is built" and the commit.  Detached: either the
# restore was reported (the pidfile names a program that runs, answers and
# holds the fds a clean restore gives it) or nothing of it runs and nothing
# is left: no process, namespace, mount or file of the rebuilt snapshot.
# In the foreground the program lives as long as the command: nothing is
# left either way.
. "$(dirname "$0")/lib.sh"
TRIES=${FAULT_TRIES:-16}
STORE=$TMP/store

ppid_of() {
	awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# init_fds PID: the kinds of fds a restore's init holds (0-2 /dev/null, nothing else).
init_fds() {
	fd_kinds "$1" | sed 's/^[0-9]* //' | sort
}

# The snapshot: basic, dumped (and killed), also put into a store.
start prog "$PROGS/basic"
wait_ready prog
dump_ok "$PID" "$TMP/snap"
"$THAW" store --store "$STORE" put "$TMP/snap" --name snap >"$TMP/put.log" 2>&1 ||
	fail "put: $(tail -n 3 "$TMP/put.log")"

# A clean restore: how long it takes (the second, with warm caches), and the
# kinds of fds of the program and its init.
for ref in ref1 ref2; do
	t0=$(date +%s%N)
	"$THAW" restore --dir "$TMP/snap" --detach --pidfile "$TMP/$ref.pid" >"$TMP/$ref.out" 2>&1 ||
		fail "a clean restore failed: $(tail -n 3 "$TMP/$ref.out")"
	D=$((($(date +%s%N) - t0) / 1000000))
	PID=$(cat "$TMP/$ref.pid")
	track_restored "$PID"
	ping $ref "$PID"
	REF_FDS=$(fd_kinds "$PID")
	REF_INIT_FDS=$(init_fds "$(ppid_of "$PID")")
	kill -KILL "$PID"
	wait_gone "$PID" || fail "pid $PID did not die"
done
log "a detached restore takes about $D ms here"

# settle_restore WHAT PIDFILE: waits until thaw is done: nothing new runs but,
# if the pidfile names it, a reported program and its init.  Sets RPID.
settle_restore() {
	local what=$1 pidfile=$2 left p i
	for ((i = 0; i < SETTLE * 20; i++)); do
		RPID=
		[ -s "$pidfile" ] && RPID=$(cat "$pidfile")
		left=$(new_procs "$BEFORE" ${RPID:+"$RPID" "$(ppid_of "$RPID")"})
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	track $left
	fail "$what: processes left behind: $(describe $left | tr '\n' ';')"
}

# after_kill WHAT NAME PIDFILE: the invariants once thaw has settled.
after_kill() {
	local what=$1 name=$2 pidfile=$3 init
	settle_restore "$what" "$pidfile"
	shm_empty "$what"
	no_mounts "$what"
	if [ -n "$RPID" ]; then
		alive "$RPID" || fail "$what: the pidfile names pid $RPID, which is not running"
		init=$(ppid_of "$RPID")
		track "$RPID" "$init"
		untraced "$RPID" || fail "$what: restored pid $RPID is still traced or stopped"
		ping "$name" "$RPID"
		[ "$(fd_kinds "$RPID")" = "$REF_FDS" ] ||
			fail "$what: the restored program's fds differ from a clean restore's: $(diff <(echo "$REF_FDS") <(fd_kinds "$RPID") | tr '\n' ';')"
		[ "$(init_fds "$init")" = "$REF_INIT_FDS" ] ||
			fail "$what: its init's fds differ from a clean restore's: $(diff <(echo "$REF_INIT_FDS") <(init_fds "$init") | tr '\n' ';')"
		kill -KILL "$RPID"
		wait_gone "$RPID" && wait_gone "$init" || fail "$what: pid $RPID or its init $init did not end"
		log "$what: reported, the program runs"
	else
		log "$what: not reported, nothing runs"
	fi
}

# the moment between a restore built (every thread's registers set) and its commit
for src in dir store; do
	args=(--dir "$TMP/snap")
	[ $src = store ] && args=(--store "$STORE" --name snap)
	BEFORE=$(own_procs | tr '\n' ' ')
	rm -f "$TMP/fp.pid"
	{ THAW_FAULT=restore-built "$THAW" restore "${args[@]}" --detach --pidfile "$TMP/fp.pid" \
		>"$TMP/fp-$src.out" 2>&1 </dev/null; } 2>/dev/null # no "Killed" from bash
	rc=$?
	[ $rc = 137 ] || fail "THAW_FAULT=restore-built: thaw restore exited $rc, not killed"
	after_kill "fault point restore-built ($src)" "fp-$src" "$TMP/fp.pid"
	[ -n "$RPID" ] && fail "a restore whose command was killed before its commit was reported"
done

# just after the commit: the restore is reported (the pidfile is there), the program runs
BEFORE=$(own_procs | tr '\n' ' ')
rm -f "$TMP/fp.pid"
{ THAW_FAULT=restore-committed "$THAW" restore --dir "$TMP/snap" --detach --pidfile "$TMP/fp.pid" \
	>"$TMP/fp-committed.out" 2>&1 </dev/null; } 2>/dev/null
rc=$?
[ $rc = 137 ] || fail "THAW_FAULT=restore-committed: thaw restore exited $rc, not killed"
after_kill "fault point restore-committed" fp-committed "$TMP/fp.pid"
[ -n "$RPID" ] || fail "a committed restore did not leave its program running"

# in the foreground the program lives only as long as the command
BEFORE=$(own_procs | tr '\n' ' ')
"$THAW" restore --dir "$TMP/snap" --pidfile "$TMP/fg.pid" >"$TMP/fg.out" 2>&1 </dev/null &
fg=$!
pid=$(read_pidfile "$TMP/fg.pid") || fail "the foreground restore wrote no pidfile"
track "$fg" "$pid" "$(ppid_of "$pid")"
ping fg "$pid"
kill -KILL "$fg"
wait "$fg" 2>/dev/null
rm -f "$TMP/fg.pid"
after_kill "foreground, killed while the program runs" fg "$TMP/fg.pid"

for ((try = 1; try <= TRIES; try++)); do
	rand_ms $((D * 5 / 4))
	delay=$R
	args=(--dir "$TMP/snap")
	one_in 2 && args=(--store "$STORE" --name snap)
	mode=--detach
	one_in 4 && mode=
	pidfile=$TMP/try$try.pid
	BEFORE=$(own_procs | tr '\n' ' ')
	kill_after "$delay" "$TMP/r$try.out" "$THAW" restore "${args[@]}" $mode \
		${mode:+--pidfile "$pidfile"}
	after_kill "try $try (${args[0]} ${mode:-foreground} at $delay ms, exit $KILLED_RC)" \
		"r$try" "$pidfile"
	[ -z "$mode" ] && [ -n "$RPID" ] && fail "a foreground restore outlived its command"
done
pass
