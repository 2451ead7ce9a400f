#!/bin/bash
# 78-tree-redump.sh - a restored tree can be snapshotted again: the tree of
# tests/programs/tree.c is dumped, restored (into a PID namespace of its own,
# where its PIDs are not the ones the caller sees), dumped again from outside
# that namespace, restored again, and every process checks itself then: the
# second snapshot holds the same tree (PIDs, parents, groups, sessions, the
# zombie) and the same shared resources as the first.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_prog tree
need_thaw
mkdir -p "$TMP/work" || fail "mkdir"

start tree "$PROGS/tree" "$TMP/work"
wait_ready tree
track_tree "$PID"
sleep 0.3
dump_ok "$PID" "$TMP/snap1"
restore_detached r1 "$TMP/snap1"
track_tree "$PID"
n=$(tree_pids "$PID" | wc -l)
[ "$n" = 4 ] || fail "first restore: $n processes in the tree, want 4"
sleep 0.3
dump_ok "$PID" "$TMP/snap2"
check_snapshot "$TMP/snap2"
restore_detached r2 "$TMP/snap2"
track_tree "$PID"
n=$(tree_pids "$PID" | wc -l)
[ "$n" = 4 ] || fail "second restore: $n processes in the tree, want 4"
finish r2 "$PID"
pass
