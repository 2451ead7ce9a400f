#!/bin/bash
# gpu.sh - make bench-gpu: the torch GPU worker (tests/gpu/torch_gpu_worker.py:
# fp16 weights, a CUDA graph, torch.compile) of each size in SIZES GiB
# (default "2 8 20"), restored two ways (MODES, default "driver region"):
#   driver  every device byte through the CUDA driver's checkpoint;
#   region  the weights in libthaw's GPU weights region (thaw.gpu.weights()),
#           saved and loaded by thaw at the same addresses, the rest through
#           the driver.
# RUNS runs of each (default 3; medians): cold start, dump (CUDA checkpoint,
# weights save), snapshot size, thaw restore --detach split into engine and
# CUDA time (driver restore + unlock, weights load), device bytes per second
# of each path, first answer after restore; every run's outputs (eager, graph
# replay, compiled) are bit-identical to the cold start's or the run fails.
# Pinned and pageable host-to-device bandwidth are measured in the same run.
# Writes a table and $OUT/bench-gpu.json (OUT defaults to $BUILD).  One size
# of 20 GiB takes minutes: SIZES=20 runs it alone.  PYTHON (default python3)
# is the interpreter with torch.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD}
RUNS=${RUNS:-3}
SIZES=${SIZES:-2 8 20}
MODES=${MODES:-driver region}
export TEST_WAIT=${TEST_WAIT:-300}
[ -e /dev/nvidia0 ] || { echo "bench-gpu: no GPU here (/dev/nvidia0)"; exit 0; }
[ -e "$BUILD/libthaw.so" ] || make BUILD="$BUILD" "$BUILD/libthaw.so" || exit 1
export THAW_LIBTHAW=${THAW_LIBTHAW:-$(cd "$BUILD" && pwd)/libthaw.so}
py=${PYTHON:-python3}
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
logs=$(mktemp -d "${TMPDIR:-/tmp}/bench-gpu.XXXXXX")
n=0
for size in $SIZES; do
	for mode in $MODES; do
		for i in $(seq "$RUNS"); do
			n=$((n + 1))
			log=$logs/$n.log
			w=0
			[ "$mode" = region ] && w=1
			THAW_TEST_WEIGHTS=$w ROUNDTRIP_WEIGHTS=$w BUILD=$BUILD tests/gpu/roundtrip.sh \
				"bench-$mode-$size" "$py" "$PWD/tests/gpu/torch_gpu_worker.py" "$size" >"$log" 2>&1
			if ! grep -q '^PASS$' "$log"; then
				tail -30 "$log"
				echo "bench-gpu: $mode $size GiB, run $i failed"
				exit 1
			fi
			echo "$size $mode $log"
		done
	done
done >"$logs/index"
$py - "$h2d" "$OUT/bench-gpu.json" "$logs/index" <<'PY'
import json, re, statistics as st, sys
h2d_pinned, h2d_pageable = map(float, sys.argv[1].split())
runs = []

def num(pat, text, group=1, default=0.0):
    m = re.search(pat, text)
    return float(m.group(group)) if m else default

for line in open(sys.argv[3]):
    size, mode, path = line.split()
    text = open(path).read()
    t = re.search(r"^TIMES \S+ (.*)$", text, re.M).group(1).split()
    d = dict(zip(t[0::2], map(int, t[1::2])))
    cold = json.loads(re.search(r"^COLD (.*)$", text, re.M).group(1))
    r = dict(size_gib=float(size), mode=mode, cold=cold, **d)
    r["engine_ms"] = num(r"restored in [0-9.]+ ms \(engine ([0-9.]+) ms", text)
    r["cuda_ms"] = num(r"restored in [0-9.]+ ms \(engine [0-9.]+ ms, CUDA ([0-9.]+) ms", text)
    m = re.search(r"CUDA restore in ([0-9.]+) ms.*: ([0-9.]+) GiB at ([0-9.]+) GB/s", text)
    r["driver_restore_ms"], r["driver_gib"], r["driver_gbps"] = map(float, m.groups())
    r["checkpoint_ms"] = num(r"CUDA checkpoint in ([0-9.]+) ms", text)
    m = re.search(r"GPU weights saved to host memory in ([0-9.]+) ms: ([0-9.]+) GiB.*copied at "
                  r"([0-9.]+) GB/s", text)
    r["weights_save_ms"], _, r["weights_save_gbps"] = map(float, m.groups()) if m else (0, 0, 0)
    m = re.search(r"GPU weights back on the GPU in ([0-9.]+) ms: ([0-9.]+) GiB.*copied at "
                  r"([0-9.]+) GB/s", text)
    r["weights_load_ms"], r["weights_gib"], r["weights_load_gbps"] = (
        map(float, m.groups()) if m else (0.0, 0.0, 0.0))
    # every device byte over the CUDA part of the restore (driver restore + unlock + weights load)
    dev_bytes = (r["driver_gib"] + r["weights_gib"]) * 2**30
    r["device_gbps"] = dev_bytes / r["cuda_ms"] / 1e6 if r["cuda_ms"] else 0.0
    runs.append(r)

keys = [("cold start to READY (ms)", "ready_ms"), ("dump, all included (ms)", "dump_ms"),
        ("  weights save (ms)", "weights_save_ms"), ("  CUDA checkpoint (ms)", "checkpoint_ms"),
        ("snapshot size (GiB)", "snap_gib"), ("thaw restore --detach, wall (ms)", "restore_ms"),
        ("  engine: CPU state back (ms)", "engine_ms"),
        ("  CUDA: driver + weights (ms)", "cuda_ms"),
        ("    driver restore (ms)", "driver_restore_ms"),
        ("    weights load (ms)", "weights_load_ms"),
        ("first answer after restore (ms)", "answer_ms"),
        ("driver's device state (GiB)", "driver_gib"), ("driver restore rate (GB/s)", "driver_gbps"),
        ("weights in the region (GiB)", "weights_gib"),
        ("weights load copy rate (GB/s)", "weights_load_gbps"),
        ("all device bytes / CUDA time (GB/s)", "device_gbps"),
        ("speed-up, cold start / restore", "speedup")]
for r in runs:
    r["snap_gib"] = r["snap_bytes"] / 2**30
    r["speedup"] = r["ready_ms"] / r["restore_ms"] if r["restore_ms"] else 0.0
cols = []
for r in runs:
    c = (r["size_gib"], r["mode"])
    if c not in cols:
        cols.append(c)
med = {c: {k: st.median(r[k] for r in runs if (r["size_gib"], r["mode"]) == c) for _, k in keys}
       for c in cols}
print("GPU workload: torch worker (fp16 weights, CUDA graph, torch.compile), %d run(s) each, "
      "medians; pinned host-to-device %.1f GB/s, pageable %.1f GB/s in the same run"
      % (len(runs) // max(1, len(cols)), h2d_pinned, h2d_pageable))
print("%-40s" % "figure" + "".join("%14s" % ("%g GiB %s" % c) for c in cols))
for label, k in keys:
    print("%-40s" % label + "".join("%14.1f" % med[c][k] for c in cols))
json.dump(dict(runs=runs, h2d_pinned_gbps=h2d_pinned, h2d_pageable_gbps=h2d_pageable,
               medians={"%g-%s" % c: med[c] for c in cols}),
          open(sys.argv[2], "w"), indent=1)
PY
rc=$?
rm -rf "$logs"
exit $rc
