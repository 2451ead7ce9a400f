#!/bin/bash
# gpu.sh - make bench-gpu: the torch GPU worker (tests/gpu/torch_gpu_worker.py,
# 2 GiB of fp16 weights, a CUDA graph, torch.compile) cold start vs thaw
# restore, restore split into engine and CUDA time, and the driver's restore
# rate next to pinned host-to-device bandwidth measured in the same run.
# Writes a table and $OUT/bench-gpu.json (OUT defaults to $BUILD).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD}
RUNS=${RUNS:-3}
export TEST_WAIT=${TEST_WAIT:-300}
[ -e /dev/nvidia0 ] || { echo "bench-gpu: no GPU here (/dev/nvidia0)"; exit 0; }
py=python3
h2d=$($py - <<'PY'
import torch, time
n = 2 << 30
src = torch.empty(n, dtype=torch.uint8).pin_memory()
pg = torch.empty(n, dtype=torch.uint8)
dst = torch.empty(n, dtype=torch.uint8, device="cuda")
def rate(s):
    dst.copy_(s, non_blocking=True); torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(3): dst.copy_(s, non_blocking=True)
    torch.cuda.synchronize()
    return 3 * n / (time.perf_counter() - t) / 1e9
print("%.1f %.1f" % (rate(src), rate(pg)))
PY
)
rows=()
for i in $(seq "$RUNS"); do
	log=$(BUILD=$BUILD tests/gpu/roundtrip.sh bench-torch python3 "$PWD/tests/gpu/torch_gpu_worker.py" 2 2>&1)
	echo "$log" | grep -q '^PASS$' || { echo "$log" | tail -30; echo "bench-gpu: run $i failed"; exit 1; }
	times=$(echo "$log" | grep '^TIMES')
	cold=$(echo "$log" | grep '^COLD' | head -1 | sed 's/^COLD //')
	eng=$(echo "$log" | sed -n 's/.*restored in [0-9.]* ms (engine \([0-9.]*\) ms, CUDA \([0-9.]*\) ms[,)].*/\1 \2/p' | head -1)
	cres=$(echo "$log" | sed -n 's/.*CUDA restore in \([0-9.]*\) ms.*: \([0-9.]*\) GiB at \([0-9.]*\) GB\/s.*/\1 \2 \3/p' | head -1)
	ckpt=$(echo "$log" | sed -n 's/.*CUDA checkpoint in \([0-9.]*\) ms.*/\1/p' | head -1)
	rows+=("$times | $eng | $cres | $ckpt | $cold")
done
printf '%s\n' "${rows[@]}" | $py -c '
import sys, json, statistics as st
h2d_pinned, h2d_pageable = map(float, sys.argv[1].split())
runs = []
for line in sys.stdin:
    t, eng, cres, ckpt, cold = [x.strip() for x in line.split("|")]
    f = t.split()
    d = dict(zip(f[2::2], map(int, f[3::2])))
    e = eng.split(); c = cres.split()
    runs.append(dict(ready_ms=d["ready_ms"], dump_ms=d["dump_ms"], restore_ms=d["restore_ms"],
        answer_ms=d["answer_ms"], snap_bytes=d["snap_bytes"], engine_ms=float(e[0]), cuda_ms=float(e[1]),
        cuda_restore_ms=float(c[0]), device_gib=float(c[1]), cuda_gbps=float(c[2]),
        checkpoint_ms=float(ckpt), cold=json.loads(cold)))
m = lambda k: st.median(r[k] for r in runs)
print("GPU workload: torch worker, %.2f GiB device state (2 GiB fp16 weights, CUDA graph, torch.compile=%s), %d runs, medians" % (m("device_gib"), runs[0]["cold"]["has_compile"], len(runs)))
print("%-44s %10s" % ("figure", "value"))
for k, v in [("cold start to READY (ms)", m("ready_ms")),
             ("  of which import torch (ms)", st.median(r["cold"]["import_s"] * 1e3 for r in runs)),
             ("  of which torch.compile (ms)", st.median(r["cold"]["compile_s"] * 1e3 for r in runs)),
             ("dump, CUDA checkpoint included (ms)", m("dump_ms")),
             ("  CUDA checkpoint (ms)", m("checkpoint_ms")),
             ("snapshot size (GiB)", m("snap_bytes") / 2**30),
             ("thaw restore --detach, wall (ms)", m("restore_ms")),
             ("  engine: CPU state back (ms)", m("engine_ms")),
             ("  CUDA restore + unlock (ms)", m("cuda_ms")),
             ("first answer after restore (ms)", m("answer_ms")),
             ("speed-up, cold start / restore", m("ready_ms") / m("restore_ms")),
             ("CUDA restore rate (GB/s)", m("cuda_gbps")),
             ("pinned host-to-device (GB/s)", h2d_pinned),
             ("pageable host-to-device (GB/s)", h2d_pageable)]:
    print("%-44s %10.1f" % (k, v))
json.dump(dict(runs=runs, h2d_pinned_gbps=h2d_pinned, h2d_pageable_gbps=h2d_pageable), open(sys.argv[2], "w"), indent=1)
' "$h2d" "$OUT/bench-gpu.json"
