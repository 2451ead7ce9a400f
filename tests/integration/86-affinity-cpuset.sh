#!/bin/bash
# 86-affinity-cpuset.sh - a thread bound to a CPU the restoring host does not
# offer fails the restore with a message naming the thread and the CPUs,
# never a silently unbound thread: the snapshot of tests/compat/affinity.c
# (threads bound to the first and the last CPU) is restored inside a cpuset
# that holds the first CPU only.  The same snapshot restores outside it.
. "$(dirname "$0")/../lib.sh"
need_thaw
CPUSET_ROOT=/sys/fs/cgroup/cpuset
PROG=$BUILD/tests/compat/affinity
[ -x "$PROG" ] || fail "$PROG is missing (run make programs)"
[ -w "$CPUSET_ROOT/cgroup.procs" ] || skip "no writable cgroup v1 cpuset hierarchy"
[ "$(nproc)" -ge 2 ] || skip "one CPU only"

CG=$CPUSET_ROOT/thaw-test-$$
# leave the cpuset before the tracked processes are killed, then remove it
trap 'rc=$?; echo $$ >"$CPUSET_ROOT/cgroup.procs" 2>/dev/null; rmdir "$CG" 2>/dev/null; (exit $rc); cleanup' EXIT

start affinity "$PROG"
wait_line affinity '^(READY|SKIP|BROKEN)'
grep -q '^READY' "$TMP/affinity.out" || fail "affinity: $(cat "$TMP/affinity.out")"
dump_ok "$PID" "$TMP/snap"
grep -q '"cpus"' "$TMP/snap/manifest.json" || fail "the snapshot keeps no CPU binding"

first=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
mkdir "$CG" || fail "cannot create $CG"
cat "$CPUSET_ROOT/cpuset.mems" >"$CG/cpuset.mems" || fail "cannot set $CG/cpuset.mems"
echo "$first" >"$CG/cpuset.cpus" || fail "cannot set $CG/cpuset.cpus"
echo $$ >"$CG/cgroup.procs" || fail "cannot enter $CG"
restore_fails in-cpuset "$TMP/snap"
grep -qE 'tid [0-9]+ was bound to CPUs [0-9]+ \(sched_setaffinity\)' "$TMP/in-cpuset.err" ||
	fail "the failed restore does not name the thread and its CPUs: $(tail -n 3 "$TMP/in-cpuset.err")"
echo $$ >"$CPUSET_ROOT/cgroup.procs" || fail "cannot leave $CG"

restore_detached restored "$TMP/snap"
finish restored "$PID"
pass
