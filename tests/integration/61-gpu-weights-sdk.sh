#!/bin/bash
# 61-gpu-weights-sdk.sh - thaw.gpu.weights() and libthaw's GPU weights
# region where there is no GPU (CI): what the SDK does with torch's pool API
# and how it fails without it; a GPU runs the rest (tests/gpu/run.sh).
#
# Against a fake torch module (one fresh interpreter per case):
# - no torch at all, a torch without CUDAPluggableAllocator / MemPool /
#   use_mem_pool, a torch without a CUDA device, a libthaw that cannot be
#   loaded: each a RuntimeError that names what is missing, raised before
#   the block runs;
# - with the API: the pluggable allocator is made from libthaw.so's
#   thaw_gpu_weights_torch_alloc/_free, one MemPool for every block, and the
#   block runs inside use_mem_pool(pool, device=...);
# - libthaw itself without libcuda.so.1: an allocation fails with its
#   reason, the region stays empty;
# - libthaw's region against a fake libcuda.so.1 (tests/fakecuda: host
#   memory for device memory), tests/programs/sdk-gpu-weights.c: allocations,
#   a save over thaw's protocol that releases every byte and unmaps every
#   address, a load into too little memory that fails with the reason and
#   leaks nothing, a load that brings every byte back at the same addresses.
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || skip "no $PY"
[ -e "$BUILD/libthaw.so" ] || fail "no $BUILD/libthaw.so (run make)"
SDK=$(cd "$(dirname "$0")/../../sdk/python" && pwd)

cat >"$TMP/case.py" <<'PYEOF'
import sys, types
case = sys.argv[1]
calls = []

def fake_torch(api=True, available=True):
    torch = types.ModuleType("torch")
    torch.__version__ = "0.fake"
    cuda = types.ModuleType("torch.cuda")
    memory = types.ModuleType("torch.cuda.memory")
    cuda.memory = memory
    cuda.is_available = lambda: available
    torch.cuda = cuda
    if api:
        class Pluggable:
            def __init__(self, path, alloc, free):
                calls.append(("allocator", path, alloc, free))
            def allocator(self):
                return "the allocator"
        class MemPool:
            def __init__(self, allocator):
                calls.append(("pool", allocator))
        class UsePool:
            def __init__(self, pool, device=None):
                calls.append(("use", device))
            def __enter__(self):
                calls.append("enter")
            def __exit__(self, *a):
                calls.append("exit")
        memory.CUDAPluggableAllocator = Pluggable
        cuda.MemPool = MemPool
        cuda.use_mem_pool = UsePool
    sys.modules["torch"] = torch

import thaw
if case == "no-torch":
    sys.modules["torch"] = None  # import torch raises ImportError
elif case == "no-api":
    fake_torch(api=False)
elif case == "no-device":
    fake_torch(available=False)
else:
    fake_torch()
try:
    with thaw.gpu.weights(device=1):
        calls.append("body")
        with thaw.gpu.weights(device=1):
            calls.append("body2")
except RuntimeError as e:
    print("ERROR", e)
    print("CALLS", calls)
    sys.exit(0)
print("CALLS", calls)
print("BYTES", thaw.gpu.weights_bytes())
lib = thaw.gpu._weights["lib"]
import ctypes
lib.thaw_gpu_weights_alloc.restype = ctypes.c_void_p
p = lib.thaw_gpu_weights_alloc(ctypes.c_size_t(1 << 20), 0)
print("ALLOC", p, lib.thaw_gpu_weights_error().decode())
print("BYTES", thaw.gpu.weights_bytes())
PYEOF

run_case() {
	env PYTHONPATH="$SDK" "$@" >"$TMP/out" 2>&1 || fail "case $*: $(cat "$TMP/out")"
	cat "$TMP/out"
}

run_case $PY "$TMP/case.py" no-torch
grep -q "^ERROR thaw.gpu.weights() needs torch" "$TMP/out" || fail "no torch: no clear error"
grep -q "^CALLS \[\]" "$TMP/out" || fail "no torch: the block ran"

run_case $PY "$TMP/case.py" no-api
grep -q "^ERROR thaw.gpu.weights() needs torch.cuda.memory.CUDAPluggableAllocator, torch.cuda.MemPool, torch.cuda.use_mem_pool, which torch 0.fake lacks" "$TMP/out" ||
	fail "a torch without the pool API: no clear error"

run_case $PY "$TMP/case.py" no-device
grep -q "^ERROR .*no CUDA device" "$TMP/out" || fail "no CUDA device: no clear error"

run_case env THAW_LIBTHAW=/nonexistent/libthaw.so $PY "$TMP/case.py" api
grep -q "^ERROR .*cannot load libthaw.so .*/nonexistent/libthaw.so (missing)" "$TMP/out" ||
	fail "a missing libthaw: no clear error"
grep -q "^CALLS \[\]" "$TMP/out" || fail "a missing libthaw: the block ran"

run_case env THAW_LIBTHAW="$BUILD/libthaw.so" $PY "$TMP/case.py" api
want="CALLS [('allocator', '$BUILD/libthaw.so', 'thaw_gpu_weights_torch_alloc', 'thaw_gpu_weights_torch_free'), ('pool', 'the allocator'), ('use', 1), 'enter', 'body', ('use', 1), 'enter', 'body2', 'exit', 'exit']"
grep -qxF "$want" "$TMP/out" || fail "with the API: expected $want"
grep -q "^BYTES 0$" "$TMP/out" || fail "the region is not empty before any allocation"
# no libcuda.so.1 here: the allocation fails and says why (where CUDA is there, it is a GPU test)
if ! ldconfig -p | grep -q 'libcuda.so.1 '; then
	grep -q "^ALLOC None cannot load libcuda.so.1" "$TMP/out" ||
		fail "libthaw without libcuda: no clear error"
	[ "$(grep -c '^BYTES 0$' "$TMP/out")" = 2 ] || fail "a failed allocation counted in the region"
fi

need_prog sdk-gpu-weights
[ -e "$BUILD/tests/fakecuda/libcuda.so.1" ] || fail "no fake libcuda (make programs)"
LD_LIBRARY_PATH=$BUILD/tests/fakecuda "$PROGS/sdk-gpu-weights" >"$TMP/fake.out" 2>&1
rc=$?
cat "$TMP/fake.out"
[ $rc = 0 ] && tail -n 1 "$TMP/fake.out" | grep -q '^PASS$' || fail "the region against the fake libcuda"
pass
