#!/bin/bash
# run.sh - every GPU test on the device machine, in one call:
#   tests/gpu/run.sh            (OUT=dir for the logs; default build/gpu-out)
# Uses $BUILD/thaw (default build/gpu-carry, made here by tests/gpu/mkcarry.sh
# and carried: the device machine lacks libjansson-dev), compiles the CUDA
# programs with nvcc -arch=sm_90, and runs: 1 GiB and 8 GiB programs, the
# same with --leave-running and through a store, the torch worker, a tree of three GPU processes
# (1 GiB each), kill -9 of dumps of an 8 GiB program (tests/gpu/fault.sh), the
# GPU weights region (weights-graph: in-process save/load, 2 and 8 GiB with a
# CUDA graph over raw pointers, --leave-running; the torch worker with
# thaw.gpu.weights(); a restore into a GPU with too little free memory,
# tests/gpu/weights-nomem.sh), thaw serve with GPU workers (tests/gpu/serve-gpu.sh),
# then the bench (bench/gpu.sh; GPU_NO_BENCH=1 leaves it out).  GPU_ONLY=weights
# runs the weights tests alone, GPU_ONLY=driver all but them.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/gpu-out}
BUILD=${BUILD:-build/gpu-carry}
export TEST_WAIT=${TEST_WAIT:-300}
mkdir -p "$OUT" "$BUILD/tests/gpu" "$BUILD/tests/programs"
[ -x "$BUILD/thaw" ] || make BUILD="$BUILD" "$BUILD/thaw" || exit 1
nvcc -O2 -arch=sm_90 -o "$BUILD/tests/gpu/gpu-mem" tests/gpu/gpu-mem.cu -lcublas || exit 1
[ -e "$BUILD/libthaw.a" ] || make BUILD="$BUILD" "$BUILD/libthaw.a" "$BUILD/libthaw.so" || exit 1
nvcc -O2 -arch=sm_90 -Iinclude -o "$BUILD/tests/gpu/weights-graph" tests/gpu/weights-graph.cu \
	"$BUILD/libthaw.a" -ldl -lpthread || exit 1
g=$(cd "$BUILD/tests/gpu" && pwd)
export THAW_LIBTHAW=${THAW_LIBTHAW:-$(cd "$BUILD" && pwd)/libthaw.so}
pass=0 failed=0
t() {
	local name=$1 rc
	shift
	BUILD=$BUILD tests/gpu/roundtrip.sh "$name" "$@" >"$OUT/$name.log" 2>&1
	rc=$?
	if [ $rc = 0 ]; then pass=$((pass + 1)); echo "PASS $name"; else failed=$((failed + 1)); echo "FAIL $name"; tail -n 25 "$OUT/$name.log"; fi
	grep -h '^TIMES\|^COLD\|CUDA \(checkpoint\|restore\)\|restored in' "$OUT/$name.log"
}
# name CMD...: a program run to its end (PASS on its last line)
p() {
	local name=$1
	shift
	if "$@" >"$OUT/$name.log" 2>&1 && tail -n 1 "$OUT/$name.log" | grep -q '^PASS'; then
		pass=$((pass + 1))
		echo "PASS $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
		tail -n 25 "$OUT/$name.log"
	fi
}
weights_tests() {
	p weights-selftest "$g/weights-graph" 2 selftest
	ROUNDTRIP_WEIGHTS=1 t weights2 "$g/weights-graph" 2
	ROUNDTRIP_WEIGHTS=1 t weights2-leave --leave-running "$g/weights-graph" 2
	ROUNDTRIP_WEIGHTS=1 t weights8 "$g/weights-graph" 8
	THAW_TEST_WEIGHTS=1 ROUNDTRIP_WEIGHTS=1 t torch-weights "${PYTHON:-python3}" "$PWD/tests/gpu/torch_gpu_worker.py" 2
	p weights-nomem env BUILD="$BUILD" tests/gpu/weights-nomem.sh "$g/weights-graph" 8
}
if [ "${GPU_ONLY:-}" = weights ]; then
	weights_tests
	echo "$pass passed, $failed failed"
	[ $failed = 0 ]
	exit
fi
t mem1 "$g/gpu-mem" 1
t mem1-leave --leave-running "$g/gpu-mem" 1
ROUNDTRIP_STORE=1 t mem1-store "$g/gpu-mem" 1
t torch python3 "$PWD/tests/gpu/torch_gpu_worker.py" 2
t tree3 "$g/gpu-mem" 1 3
t mem8 "$g/gpu-mem" 8
# kill -9 of a dump at the CUDA checkpoint and at random moments: the program runs on
p fault env BUILD="$BUILD" tests/gpu/fault.sh 8
grep -h '^RECOVERED\|published' "$OUT/fault.log"
[ "${GPU_ONLY:-}" = driver ] || weights_tests
# thaw serve with GPU workers: a cold one snapshotted, a second restored beside it
p serve env THAW="$BUILD/thaw" OUT="$OUT" tests/gpu/serve-gpu.sh
echo "$pass passed, $failed failed"
[ "${GPU_NO_BENCH:-}" = 1 ] && { [ $failed = 0 ]; exit; }
BUILD=$BUILD bench/gpu.sh 2>&1 | tee "$OUT/bench.log"
[ $failed = 0 ]
