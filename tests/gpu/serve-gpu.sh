#!/bin/bash
# serve-gpu.sh - thaw serve with GPU workers, on the device machine:
# examples/app.py with APP_DEVICE=cuda (torch, the model on the GPU).  The
# first worker starts cold and is snapshotted through thaw run's GPU path;
# a burst that finds it busy starts a second one, which must be restored,
# and both must answer what the cold one answered.  SIGTERM must leave no
# worker process.  Prints serve's status and metrics; logs in $OUT.
#   THAW=build/gpu-carry/thaw [PYTHON=python3] tests/gpu/serve-gpu.sh
# (tests/gpu/run.sh runs it last).  Exit 77 where there is no GPU.
set -u
cd "$(dirname "$0")/../.."
THAW=${THAW:-build/gpu-carry/thaw}
OUT=${OUT:-build/gpu-out}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
[ -x "$THAW" ] || { echo "no $THAW (tests/gpu/mkcarry.sh makes it)"; exit 1; }
[ -e /dev/nvidia0 ] || { echo "no GPU here"; exit 77; }
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
	{ echo "FAIL: $PYTHON has no torch with CUDA (PYTHON=...)"; exit 1; }
store=$(mktemp -d /tmp/thaw-serve-gpu.XXXXXX)
port=18480 admin=18490
failed=0
die() { echo "FAIL: $*"; failed=1; }
APP_DEVICE=cuda "$THAW" serve --listen 127.0.0.1:$port --admin 127.0.0.1:$admin \
	--store "$store" --json-events "$OUT/serve-gpu.json" --ready-path /ready \
	--warmup /predict --min-warm 1 --max-workers 2 --start-timeout 300 --queue-timeout 300 \
	-- "$PYTHON" "$PWD/examples/app.py" >"$OUT/serve-gpu.log" 2>&1 &
serve=$!
python3 - "$port" "$admin" <<'PY' || failed=1
import http.client, json, sys, threading, time
port, admin = int(sys.argv[1]), int(sys.argv[2])
def get(p, path):
    c = http.client.HTTPConnection("127.0.0.1", p, timeout=300)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body
def workers():
    return json.loads(get(admin, "/status")[1])["workers"]
end = time.time() + 300
while time.time() < end:
    try:
        if any(w["state"] == "ready" for w in workers()):
            break
    except OSError:
        pass
    time.sleep(0.5)
else:
    sys.exit("FAIL: no ready worker within 300 s")
first = get(port, "/predict")
answers = []
threads = [threading.Thread(target=lambda: answers.append(get(port, "/predict")))
           for _ in range(32)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ws = workers()
print("workers:", [(w["id"], w["kind"], w["state"], w["served"]) for w in ws])
bad = [a for a in answers if a != first]
if bad:
    sys.exit("FAIL: %d answers differ from %s: %s" % (len(bad), first, bad[:3]))
if not any(w["kind"] == "restored" for w in ws):
    sys.exit("FAIL: no restored worker")
print(get(admin, "/metrics")[1].decode())
PY
kill -TERM "$serve"
wait "$serve" || die "thaw serve exited with $?"
grep '"event":"\(restored\|cold_start\|snapshot_created\|worker_ready\)"' "$OUT/serve-gpu.json"
pgrep -f "$PWD/examples/app.py" && die "workers outlived thaw serve"
rm -rf "$store"
[ $failed = 0 ] && echo "PASS serve-gpu" || echo "FAIL serve-gpu"
exit $failed
