#!/bin/bash
# weights-nomem.sh WEIGHTS-GRAPH [GIB] - a restore of a program with GIB GiB
# (default 8) in libthaw's GPU weights region into a GPU that has too little
# free memory for them (another process holds the rest: weights-graph hog):
#   1. thaw restore fails cleanly: non-zero exit, the reason (not enough GPU
#      memory) said, no restored process or thaw process left behind; once
#      the memory is free again the same snapshot restores and passes;
#   2. under thaw run (tests/gpu/run_worker.py with THAW_TEST_WEIGHTS=1): the
#      restore fails the same way and thaw run falls back to a cold start,
#      whose first line is the snapshotting start's (the hog is let go once
#      the restore has failed, while the cold start imports torch).
. "$(dirname "$0")/../lib.sh"
need_thaw
prog=$1
gib=${2:-8}
half=$((gib / 2))

# ---- 1. thaw restore
start w "$prog" "$gib"
wait_ready w 300
dump_ok "$PID" "$TMP/snap"
grep -q 'GPU weights saved to host memory' "$TMP/dump.log" || fail "the dump saved no GPU weights"
start hog "$prog" hog "$half"
wait_ready hog 120
hog=$PID
cat "$TMP/hog.out"
restore_fails nomem "$TMP/snap"
cat "$TMP/nomem.err"
grep -q 'not enough GPU memory\|out of memory' "$TMP/nomem.err" ||
	fail "the failed restore does not say the GPU lacks memory"
finish hog "$hog"
restore_detached w-restored "$TMP/snap"
grep -q 'GPU weights back on the GPU' "$TMP/w-restored.err" || fail "the restore loaded no weights"
finish w-restored "$PID"
echo "1. thaw restore into a full GPU failed cleanly; with the memory back it passed"

# ---- 2. thaw run falls back to a cold start
store=$TMP/store
run_log=$TMP/run
export THAW_TEST_WEIGHTS=1 TORCHINDUCTOR_COMPILE_THREADS=1
export THAW_LIBTHAW=${THAW_LIBTHAW:-$BUILD/libthaw.so}
worker=$(cd "$(dirname "$0")" && pwd)/run_worker.py
timeout 300 "$THAW" run --store "$store" -- "${PYTHON:-python3}" "$worker" "$gib" >"$run_log.cold.out" \
	2>"$run_log.cold.err" || fail "thaw run (cold): $(tail -n 5 "$run_log.cold.err")"
grep -q 'snapshot created' "$run_log.cold.err" || fail "the cold thaw run took no snapshot"
cold_first=$(head -n 1 "$run_log.cold.out")
start hog2 "$prog" hog "$half"
wait_ready hog2 120
hog=$PID
(timeout 300 "$THAW" run --store "$store" -- "${PYTHON:-python3}" "$worker" "$gib" >"$run_log.fb.out" \
	2>"$run_log.fb.err"; echo $? >"$run_log.fb.rc") &
track $!
for ((i = 0; i < 300 * 20; i++)); do
	grep -q 'cold start' "$run_log.fb.err" 2>/dev/null && break
	[ -s "$run_log.fb.rc" ] && break
	sleep 0.05
done
finish hog2 "$hog"
for ((i = 0; i < 300 * 20; i++)); do
	[ -s "$run_log.fb.rc" ] && break
	sleep 0.05
done
cat "$run_log.fb.err"
[ "$(cat "$run_log.fb.rc" 2>/dev/null)" = 0 ] || fail "thaw run after the failed restore exited $(cat "$run_log.fb.rc" 2>/dev/null)"
grep -q 'cold start' "$run_log.fb.err" || fail "thaw run did not fall back to a cold start"
grep -q 'not enough GPU memory\|out of memory' "$run_log.fb.err" ||
	fail "thaw run does not say the restore lacked GPU memory"
[ "$(head -n 1 "$run_log.fb.out")" = "$cold_first" ] ||
	fail "the cold start's first line differs from the snapshotting start's"
echo "2. thaw run into a full GPU fell back to a cold start, same first line"
pass
