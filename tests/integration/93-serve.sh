#!/bin/bash
# 93-serve.sh - thaw serve end to end: the first worker starts cold and is
# snapshotted when its ready path answers; a burst that finds every worker busy
# starts more, restored from that snapshot (thaw run's "restored" events), each
# in its own network and PID namespace on the same port; connections are kept
# alive on both sides, and a worker holds none of serve's pipes; request and
# response bodies stream both ways (a 300 KB echo, plain and chunked; a token
# stream arrives line by line, not at the end); a worker that dies before
# answering is a 502 saying so and is replaced; one that dies mid-response cuts
# that response; the metrics count all of it, /healthz answers; SIGTERM drains
# (/healthz 503, no new connection, the request in flight finishes) and leaves
# no worker process, namespace or mount of theirs.
. "$(dirname "$0")/../lib.sh"
need_thaw
. "$(dirname "$0")/../serve/lib.sh"

serve A --store "$TMP/store" --warmup /id --min-warm 1 --max-workers 3 --concurrency 1 \
	--scaledown-window 600
wait_workers A 1
grep -q '"event":"cold_start".*"reason":"no snapshot yet"' "$TMP/A.json" ||
	fail "the first worker did not start cold"
grep -q '"event":"snapshot_created"' "$TMP/A.json" || fail "the first worker was not snapshotted"
first=$(get A /id) || fail "no answer through serve"
log "first worker: $first"
# keep-alive both ways: a client's second request on its connection, and serve's
# connection to the worker, which the worker sees come from the same port each time
conns=$(get A /id -o /dev/null -w '%{num_connects}\n' "http://127.0.0.1:$PORT_A/id" -o /dev/null)
[ "$conns" = $'1\n0' ] || fail "the client's connection was not kept alive: $conns"
peers=$(for i in 1 2 3; do get A /peer; done | sort -u)
[ "$(echo "$peers" | wc -l)" = 1 ] || fail "serve's connection to the worker was not kept alive: $peers"
# the worker holds none of serve's pipes (thaw run's events pipe is not the program's)
get A /fds >"$TMP/worker.fds" || fail "no /fds"
for p in $(ls -l "/proc/$PID_A/fd" | grep -o 'pipe:\[[0-9]*\]'); do
	grep -qF "$p" "$TMP/worker.fds" && fail "the worker holds serve's $p: $(cat "$TMP/worker.fds")"
done

# three requests that each hold a worker for a second: two more workers, restored
jobs=()
for i in 1 2 3; do
	get A "/slow?ms=1500" >"$TMP/slow.$i" &
	jobs+=($!)
	track $!
done
wait_workers A 3
wait "${jobs[@]}"
for i in 1 2 3; do
	grep -q "^slow " "$TMP/slow.$i" || fail "slow request $i: $(cat "$TMP/slow.$i")"
done
[ "$(count_events A restored)" -ge 2 ] || fail "later workers were not restored"
[ "$(metric A 'thaw_serve_worker_starts_total{kind="restored"}')" -ge 2 ] ||
	fail "restored starts not counted"
[ "$(metric A 'thaw_serve_worker_starts_total{kind="cold"}')" = 1 ] ||
	fail "more than one cold start"
nets=$(netns_of $(status A | python3 -c 'import json, sys
[print(w["pid"]) for w in json.load(sys.stdin)["workers"]]'))
[ "$(echo "$nets" | wc -l)" = 3 ] || fail "workers do not have a network namespace each: $nets"
[[ $nets == *"$(readlink /proc/self/ns/net)"* ]] && fail "a worker is in our network namespace"
# and each worker's program is in a PID namespace of its own (thaw run's)
pidns=$(for w in $(status A | python3 -c 'import json, sys
[print(w["pid"]) for w in json.load(sys.stdin)["workers"]]'); do
	for p in $(descendants "$w"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = python3 ] && readlink "/proc/$p/ns/pid"
	done
done | sort -u)
[ "$(echo "$pidns" | wc -l)" = 3 ] || fail "worker programs do not have a PID namespace each: $pidns"
[[ $pidns == *"$(readlink /proc/self/ns/pid)"* ]] && fail "a worker program is in our PID namespace"

# bodies stream both ways
head -c 300000 /dev/urandom >"$TMP/big"
get A /echo --data-binary @"$TMP/big" -H 'Content-Type: application/octet-stream' |
	cmp - "$TMP/big" || fail "echo of 300 KB differs"
get A /echo -X POST -T "$TMP/big" -H 'Transfer-Encoding: chunked' | cmp - "$TMP/big" ||
	fail "chunked echo of 300 KB differs"
# a token stream: the first line arrives while the worker is still writing the rest
get A "/stream?n=4&ms=400" -N | while read -r line; do
	[ -n "$line" ] && echo "$(date +%s%N) $line"
done >"$TMP/stream"
[ "$(wc -l <"$TMP/stream")" = 4 ] || fail "stream: $(cat "$TMP/stream")"
python3 - "$TMP/stream" <<'PY' || fail "the stream was buffered: $(cat "$TMP/stream")"
import sys
t = [int(l.split()[0]) for l in open(sys.argv[1])]
# lines 400 ms apart at the worker must arrive spread out, not all at the end
sys.exit(0 if (t[-1] - t[0]) / 1e6 > 800 else 1)
PY

# a worker that dies before answering: 502 saying so; it is replaced
code=$(get A /crash -o "$TMP/crash.body" -w '%{http_code}')
[ "$code" = 502 ] || fail "crash: HTTP $code"
grep -q "worker .* failed before it answered" "$TMP/crash.body" ||
	fail "the 502 does not say why: $(cat "$TMP/crash.body")"
# mid-response: the response is cut (curl: transfer closed), never completed
get A /crashmid >"$TMP/crashmid.body" 2>"$TMP/crashmid.err" && fail "a cut response ended well"
grep -q partial "$TMP/crashmid.body" || fail "the part sent before the crash did not arrive"
eventually '[ "$(count_events A worker_died)" -ge 2 ] && [ "$(ready_count A)" -ge 1 ]'
[ "$(count_events A worker_died)" -ge 2 ] || fail "the dead workers were not noticed"
get A /id >/dev/null || fail "no answer after the crashes"
[ "$(metric A thaw_serve_bad_gateway_total)" -ge 2 ] || fail "502s not counted"
get A /id >/dev/null
[ "$(metric A 'thaw_serve_bytes_total{direction="in"}')" -ge 600000 ] || fail "bytes in"

# the admin endpoint: /healthz, and the histograms have counted what happened
[ "$(curl -sS -m 5 "http://127.0.0.1:$ADMIN_A/healthz")" = ok ] || fail "/healthz while serving"
for h in restore_seconds worker_ready_seconds request_seconds ttfb_seconds; do
	[ "$(metric A "thaw_serve_${h}_count")" -ge 1 ] || fail "thaw_serve_${h} counted nothing"
	[ "$(metric A "thaw_serve_${h}_bucket{le=\"+Inf\"}")" = "$(metric A "thaw_serve_${h}_count")" ] ||
		fail "thaw_serve_${h}: +Inf bucket is not the count"
done
[ "$(metric A 'thaw_serve_workers{state="ready"}')" -ge 1 ] || fail "no ready worker in /metrics"

# SIGTERM with a request in flight: /healthz turns 503, no new connection is
# taken, the request finishes, then every worker stops and nothing of theirs is left
track_workers "$PID_A"
pids=$(descendants "$PID_A")
nets=$(netns_of $pids)
get A "/slow?ms=5000" -o "$TMP/drain.body" -w '%{http_code}' >"$TMP/drain.code" &
inflight=$!
track $inflight
eventually '[ "$(metric A thaw_serve_requests_in_flight)" -ge 1 ]'
kill -TERM "$PID_A"
for ((i = 0; i < TIMEOUT * 10; i++)); do
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_A/healthz")
	[ "$code" = 503 ] && break
	sleep 0.1
done
[ "$code" = 503 ] || fail "/healthz while draining: $code"
get A /id -o /dev/null 2>/dev/null && fail "a new request was taken while draining"
alive "$inflight" || fail "the request in flight ended before the drain was seen: the test proves nothing"
wait "$PID_A" || fail "thaw serve A exited with $? after SIGTERM"
wait "$inflight" || fail "the request in flight failed across SIGTERM"
[ "$(cat "$TMP/drain.code")" = 200 ] && grep -q '^slow ' "$TMP/drain.body" ||
	fail "the request in flight was cut by SIGTERM: $(cat "$TMP/drain.code") $(cat "$TMP/drain.body")"
for p in $pids; do
	alive "$p" && fail "worker process $p outlived thaw serve"
done
held_by_any $nets && fail "a worker's network namespace is still held"
grep -q "$TMP" /proc/self/mountinfo && fail "a mount under $TMP is left: $(grep "$TMP" /proc/self/mountinfo)"
grep -q '"event":"stopped"' "$TMP/A.json" || fail "no stopped event"
pass
