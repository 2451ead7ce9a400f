#!/bin/bash
# 72-tree.sh - a process tree comes back whole (tests/programs/tree.c): a
# child with a second thread and its own process group, a grandchild in its
# own session, a zombie (exit status 7), and what they share: a pipe and a
# socketpair with bytes queued, a FIFO, one open file description (the
# offset moves for all), shared anonymous memory and a memfd.  Every process
# checks itself after restore and the root prints PASS only if all did.
# A first restore of the snapshot is killed at its root (kill -9): no process
# of the tree may survive; a second one, from a store, checks itself.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_prog tree

# check_shape ROOT WHAT: 4 processes: ROOT, a zombie and a live child (2
# threads) under it, and the child's child; ROOT and the child in their own
# groups, the grandchild in its own session (which the processes check themselves).
check_shape() {
	local root=$1 what=$2 kids p zombie='' child='' grand threads
	kids=$(cat /proc/"$root"/task/*/children 2>/dev/null)
	for p in $kids; do
		if [ "$(proc_state "$p")" = Z ]; then zombie=$p; else child=$p; fi
	done
	[ "$(echo "$kids" | wc -w)" = 2 ] || fail "$what: root $root has children '$kids', want 2"
	[ -n "$zombie" ] || fail "$what: no zombie under root $root (children: $kids)"
	[ -n "$child" ] || fail "$what: no live child under root $root (children: $kids)"
	grand=$(children_of "$child")
	[ "$(echo "$grand" | wc -w)" = 1 ] ||
		fail "$what: child $child has children '$grand', want 1"
	alive "$grand" || fail "$what: grandchild $grand is not running"
	threads=$(awk '/^Threads:/ { print $2 }' "/proc/$child/status")
	[ "$threads" = 2 ] || fail "$what: child $child has $threads threads, want 2"
	log "$what: root $root, zombie $zombie, child $child (2 threads), grandchild $grand"
	ALL_PIDS="$root $zombie $child $grand"
}

mkdir -p "$TMP/control-work" "$TMP/work" || fail "mkdir"
start control "$PROGS/tree" "$TMP/control-work"
wait_ready control
track_tree "$PID"
check_shape "$PID" control
finish control "$PID"
need_thaw

start tree "$PROGS/tree" "$TMP/work"
wait_ready tree
track_tree "$PID"
sleep 0.3 # the thread and the grandchild get into their blocking calls
orig=$PID
check_shape "$orig" original
orig_pids=$ALL_PIDS
dump_ok "$orig" "$TMP/snap"
check_snapshot "$TMP/snap"
for p in $orig_pids; do
	wait_gone "$p" 5 || fail "process $p of the dumped tree still runs after thaw dump"
done
"$THAW" inspect "$TMP/snap" >"$TMP/inspect.log" 2>&1 || fail "thaw inspect failed"

# ---- restore and kill -9 the root: nothing of the tree may stay.  (First:
# the checks below write to tree.file, and a snapshot whose files changed is
# not restored again.)
restore_detached r1 "$TMP/snap"
track_tree "$PID"
check_shape "$PID" "restored, to be killed"
all=$(tree_pids "$PID")
init=$(awk '/^PPid:/ { print $2 }' /proc/"$PID"/status)
[ "$(readlink "/proc/$init/exe")" = "$(readlink -f "$THAW")" ] || init=
kill -KILL "$PID"
for p in $all; do
	wait_gone "$p" 10 || fail "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) of the" \
		"restored tree survived kill -9 of its root $PID"
done
if [ -n "$init" ]; then
	wait_gone "$init" 10 || fail "thaw's namespace init $init still runs after its tree died"
fi
log "kill -9 of root $PID: $(echo "$all" | wc -w) processes gone (namespace init $init)"

# ---- restore again, this time through a store (every process's pages go
# straight from the chunks into it), check the shape from outside, then
# every process checks itself
"$THAW" store --store "$TMP/store" put "$TMP/snap" --name tree >"$TMP/put.log" 2>&1 ||
	fail "thaw store put: $(tail -n 3 "$TMP/put.log")"
restore_detached_from r2 --store "$TMP/store" --name tree
track_tree "$PID"
check_shape "$PID" "restored again"
finish r2 "$PID"
for p in $ALL_PIDS; do
	wait_gone "$p" 5 || fail "restored tree: process $p still runs after the root passed"
done
pass
