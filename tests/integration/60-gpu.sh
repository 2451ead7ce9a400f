#!/bin/bash
# 60-gpu.sh - a CUDA program with 1 GiB of patterned device memory, streams,
# events and a cuBLAS handle survives dump (CUDA checkpoint), kill and restore
# (CUDA restore) bit for bit.  Skipped where there is no GPU or no nvcc (CI);
# tests/gpu/run.sh runs the whole GPU set on the device machine.
. "$(dirname "$0")/../lib.sh"
[ -e /dev/nvidia0 ] || skip "no GPU here (/dev/nvidia0)"
command -v nvcc >/dev/null || skip "no nvcc here"
need_thaw
mkdir -p "$BUILD/tests/gpu"
nvcc -O2 -arch=sm_90 -o "$BUILD/tests/gpu/gpu-mem" "$(dirname "$0")/../gpu/gpu-mem.cu" -lcublas ||
	fail "nvcc could not build tests/gpu/gpu-mem.cu"
TEST_WAIT=120 BUILD=$BUILD "$(dirname "$0")/../gpu/roundtrip.sh" gpu-mem1 "$BUILD/tests/gpu/gpu-mem" 1 ||
	fail "the 1 GiB CUDA program did not survive the round trip"
pass
