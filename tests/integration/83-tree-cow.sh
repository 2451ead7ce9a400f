#!/bin/bash
# 83-tree-cow.sh - memory a parent and its child share copy-on-write since a
# fork stays shared through a dump and through two generations of restores:
# tests/compat/cow-fork.c checks, page by page, that what it shared is one
# physical page in both (pagemap frame numbers) and what either wrote is not.
#   1. dump --leave-running: the running tree still shares (reading memory
#      that is shared must not unshare it) and passes its check;
#   2. that snapshot restored, dumped again from the restored tree (the
#      sharing is found again), restored again: the copy passes its check.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_thaw
PROG=$BUILD/tests/compat/cow-fork
[ -x "$PROG" ] || fail "compat program $PROG is missing (run make programs)"

start orig "$PROG"
wait_ready orig
track_tree "$PID"
dump_ok "$PID" "$TMP/snap1" --leave-running
check_snapshot "$TMP/snap1"
first=$PID
restore_detached r1 "$TMP/snap1"
track_tree "$PID"
finish orig "$first"
sleep 0.2
dump_ok "$PID" "$TMP/snap2"
check_snapshot "$TMP/snap2"
restore_detached r2 "$TMP/snap2"
track_tree "$PID"
finish r2 "$PID"
pass
