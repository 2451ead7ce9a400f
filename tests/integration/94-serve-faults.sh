#!/bin/bash
# 94-serve-faults.sh - thaw serve and bad clients, overload and bad workers:
# a malformed request is 400; an oversized header 431; a client that stops in
# its header or its body is disconnected; a client that goes away mid-response
# cancels the worker's request (the worker sees its connection end); a full
# queue is 503 with Retry-After, a long wait 503 too; a snapshot that cannot be
# restored is a cold start that says why (thaw run's reason, counted in
# /metrics); a worker that never becomes ready is an error event with a
# growing back-off, not a loop.
. "$(dirname "$0")/../lib.sh"
need_thaw
. "$(dirname "$0")/../serve/lib.sh"
export WORKER_DIR=$TMP

# raw NAME BYTES...: sends the bytes (python escapes) to serve NAME, prints what comes
# back until the server closes (bounded by TIMEOUT); "CLOSED" once it has closed.
raw() {
	local p="PORT_$1"
	python3 - "${!p}" "$2" "$TIMEOUT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(float(sys.argv[3]))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            out += b"CLOSED"
            break
        out += b
except socket.timeout:
    out += b"TIMEOUT"
except ConnectionResetError:
    out += b"CLOSED"
print(out.decode("latin-1"))
PY
}

serve A --store "$TMP/store" --min-warm 1 --max-workers 1 --concurrency 1 --queue 1 \
	--queue-timeout 2 --client-timeout 1 --max-header-bytes 16384 --scaledown-window 600
wait_workers A 1

# malformed: 400
out=$(raw A 'GARBAGE WITHOUT A VERSION\r\n\r\n')
[[ $out == "HTTP/1."?" 400"* ]] || fail "malformed request: $out"
# oversized header: 431
big=$(head -c 40000 /dev/zero | tr '\0' x)
out=$(raw A "GET /id HTTP/1.1\\r\\nHost: x\\r\\nX-Big: $big\\r\\n\\r\\n")
[[ $out == "HTTP/1."?" 431"* ]] || fail "oversized header: ${out:0:200}"
# a client that stops in its header, and one that stops in its body: disconnected
out=$(raw A 'GET /id HTTP/1.1\r\nHost: x\r\n')
[[ $out == *CLOSED ]] || fail "a client stopped in its header was not disconnected: $out"
out=$(raw A 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789')
[[ $out == *CLOSED ]] || fail "a client stopped in its body was not disconnected: $out"
get A /id >/dev/null || fail "serve does not answer after the bad clients"

# a client that goes away mid-response: the worker's request ends
get A "/hang?tag=gone" -o /dev/null -m 1 2>/dev/null
eventually '[ -e "$TMP/gone.cancelled" ]' || fail "the worker's request went on after its client left"
[ "$(metric A thaw_serve_cancelled_total)" -ge 1 ] || fail "cancellation not counted"
get A /id >/dev/null || fail "serve does not answer after a cancelled request"

# overload: one worker busy, one request queued, the next is 503 with Retry-After
get A "/slow?ms=3000" >/dev/null &
busy=$!
track $busy
eventually '[ "$(metric A thaw_serve_requests_in_flight)" = 1 ]'
get A "/id" -o "$TMP/queued.body" -w '%{http_code}' >"$TMP/queued.code" &
queued=$!
track $queued
eventually '[ "$(metric A thaw_serve_queue_length)" = 1 ]'
get A /id -D "$TMP/full.head" -o "$TMP/full.body" >/dev/null
grep -q '^HTTP/1.1 503' "$TMP/full.head" || fail "full queue: $(cat "$TMP/full.head")"
grep -qi '^Retry-After: 1' "$TMP/full.head" || fail "no Retry-After: $(cat "$TMP/full.head")"
grep -q overloaded "$TMP/full.body" || fail "503 body: $(cat "$TMP/full.body")"
# the queued one waited 2 s (--queue-timeout) for a worker still busy for 3: 503 as well
wait $queued
[ "$(cat "$TMP/queued.code")" = 503 ] || fail "a request queued past --queue-timeout: $(cat "$TMP/queued.code")"
grep -q "no worker was free within 2 s" "$TMP/queued.body" || fail "$(cat "$TMP/queued.body")"
wait $busy
[ "$(metric A 'thaw_serve_rejected_total{reason="queue_full"}')" = 1 ] || fail "queue_full count"
[ "$(metric A 'thaw_serve_rejected_total{reason="queue_timeout"}')" = 1 ] || fail "timeout count"
stop_serve A

# a snapshot that cannot be restored: the next worker starts cold and says why
key=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "snapshot_created": print(e["key"])' "$TMP/A.json")
[ -n "$key" ] || fail "no snapshot key in the events"
pages=$(find "$TMP/store/$key" -name pages.img | head -1)
[ -n "$pages" ] || fail "no pages.img in $TMP/store/$key"
truncate -s 4096 "$pages"
serve B --store "$TMP/store" --min-warm 1 --max-workers 1
wait_workers B 1
grep -q '"event":"cold_start".*"reason":"restore failed' "$TMP/B.json" ||
	grep -q '"event":"cold_start".*"reason":"snapshot unreadable' "$TMP/B.json" ||
	fail "no cold start with a reason: $(grep cold_start "$TMP/B.json")"
[ "$(metric B 'thaw_serve_worker_starts_total{kind="fallback"}')" = 1 ] || fail "fallback count"
curl -sS "http://127.0.0.1:$ADMIN_B/metrics" | grep -q '^thaw_serve_fallbacks_total{reason="' ||
	fail "no fallback reason in /metrics"
get B /id >/dev/null || fail "the fallback worker does not answer"
stop_serve B

# a worker that never becomes ready: failed, killed, and each next start waits longer
serve C --store "$TMP/store2" --ready-path /nowhere --start-timeout 1 --min-warm 1 \
	--queue-timeout 2
for ((i = 0; i < TIMEOUT * 10; i++)); do
	track_workers "$PID_C"
	[ "$(count_events C worker_failed)" -ge 2 ] && break
	sleep 0.1
done
[ "$(count_events C worker_failed)" -ge 2 ] || fail "no repeated worker_failed events"
backoffs=$(python3 -c 'import json, sys
print(" ".join("%g" % json.loads(l)["backoff_s"] for l in open(sys.argv[1])
               if json.loads(l)["event"] == "worker_failed"))' "$TMP/C.json")
[[ $backoffs == "1 2"* ]] || fail "back-off does not grow: $backoffs"
[ "$(metric C thaw_serve_worker_failures_total)" -ge 2 ] || fail "failures not counted"
code=$(get C /id -o "$TMP/c.body" -w '%{http_code}')
[ "$code" = 503 ] || fail "a request with no worker ready: $code"
grep -q "last error: worker .* was not ready within 1 s" "$TMP/c.body" ||
	fail "the 503 does not say why: $(cat "$TMP/c.body")"
stop_serve C
pass
