#!/bin/bash
# run.sh - every GPU test on the device machine, in one call:
#   tests/gpu/run.sh            (OUT=dir for the logs; default build/gpu-out)
# Uses $BUILD/thaw (default build/gpu-carry, made here by tests/gpu/mkcarry.sh
# and carried: the device machine lacks libjansson-dev), compiles the CUDA
# programs with nvcc -arch=sm_90, and runs: 1 GiB and 8 GiB programs, the
# same with --leave-running and through a store, the torch worker, a tree of three GPU processes
# (1 GiB each), kill -9 of dumps of an 8 GiB program (tests/gpu/fault.sh), then
# the bench (bench/gpu.sh; GPU_NO_BENCH=1 leaves it out).
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/gpu-out}
BUILD=${BUILD:-build/gpu-carry}
export TEST_WAIT=${TEST_WAIT:-300}
mkdir -p "$OUT" "$BUILD/tests/gpu" "$BUILD/tests/programs"
[ -x "$BUILD/thaw" ] || make BUILD="$BUILD" "$BUILD/thaw" || exit 1
nvcc -O2 -arch=sm_90 -o "$BUILD/tests/gpu/gpu-mem" tests/gpu/gpu-mem.cu -lcublas || exit 1
g=$(cd "$BUILD/tests/gpu" && pwd)
pass=0 failed=0
t() {
	local name=$1 rc
	shift
	BUILD=$BUILD tests/gpu/roundtrip.sh "$name" "$@" >"$OUT/$name.log" 2>&1
	rc=$?
	if [ $rc = 0 ]; then pass=$((pass + 1)); echo "PASS $name"; else failed=$((failed + 1)); echo "FAIL $name"; tail -n 25 "$OUT/$name.log"; fi
	grep -h '^TIMES\|^COLD\|CUDA \(checkpoint\|restore\)\|restored in' "$OUT/$name.log"
}
t mem1 "$g/gpu-mem" 1
t mem1-leave --leave-running "$g/gpu-mem" 1
ROUNDTRIP_STORE=1 t mem1-store "$g/gpu-mem" 1
t torch python3 "$PWD/tests/gpu/torch_gpu_worker.py" 2
t tree3 "$g/gpu-mem" 1 3
t mem8 "$g/gpu-mem" 8
# kill -9 of a dump at the CUDA checkpoint and at random moments: the program runs on
if BUILD=$BUILD tests/gpu/fault.sh 8 >"$OUT/fault.log" 2>&1; then
	pass=$((pass + 1))
	echo "PASS fault"
else
	failed=$((failed + 1))
	echo "FAIL fault"
	tail -n 25 "$OUT/fault.log"
fi
grep -h '^RECOVERED\|published' "$OUT/fault.log"
echo "$pass passed, $failed failed"
[ "${GPU_NO_BENCH:-}" = 1 ] && { [ $failed = 0 ]; exit; }
BUILD=$BUILD bench/gpu.sh 2>&1 | tee "$OUT/bench.log"
[ $failed = 0 ]
