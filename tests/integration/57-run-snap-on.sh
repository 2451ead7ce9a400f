#!/bin/bash
# 57-run-snap-on.sh - thaw run snapshot points for programs that know nothing
# of thaw: --snap-on-http (a Python ThreadingHTTPServer serving a fixed file,
# with warm-up requests; restored, it answers the same on the same port),
# --snap-on-stdout (every byte of the output relayed in order; a restored
# program's output again goes through thaw run), --snap-on-port, and a
# condition that never comes (--snap-timeout: the program just runs on).
. "$(dirname "$0")/../lib.sh"
need_thaw
command -v python3 >/dev/null || skip "no python3"
command -v curl >/dev/null || skip "no curl"
STORE=$TMP/store

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# An HTTP server that cannot be changed: serves the files of DIR on PORT after DELAY seconds.
cat >"$TMP/srv.py" <<'EOF'
import functools, http.server, sys, time
port, root, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(delay)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
EOF

# Prints 2000 numbered lines, "ready TOKEN" when ready, then a tick every 100 ms.
cat >"$TMP/ticker.py" <<'EOF'
import os, sys, time
token = os.urandom(8).hex()
for i in range(2000):
    sys.stdout.write("line %d %s\n" % (i, "x" * (i % 97)))
sys.stdout.write("ready %s\n" % token)
sys.stdout.flush()
n = 0
while True:
    time.sleep(0.1)
    print("tick %s %d" % (token, n), flush=True)
    n += 1
EOF

# run NAME THAW-OPTIONS... -- CMD...: thaw run in the background; sets THAW_PID.
run() {
	local name=$1
	shift
	"$THAW" run --store "$STORE" --json-events "$TMP/$name.json" "$@" </dev/null \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
}

# wait_event NAME EVENT: until thaw run NAME has emitted EVENT (bounded).
wait_event() {
	local i
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		grep -q "\"event\":\"$2\"" "$TMP/$1.json" 2>/dev/null && return 0
		alive "$THAW_PID" || break
		sleep 0.05
	done
	fail "$1: no $2 event: $(cat "$TMP/$1.json" "$TMP/$1.err" 2>/dev/null)"
}

# stop NAME: kills the program by its PID (thaw run's grandchild); thaw run exits 137.
stop() {
	local init prog i
	for ((i = 0; i < 100; i++)); do
		init=$(cat /proc/"$THAW_PID"/task/*/children 2>/dev/null | awk '{ print $1 }')
		prog=$(awk '{ print $1 }' "/proc/$init/task/$init/children" 2>/dev/null)
		[ -n "$prog" ] && break
		sleep 0.05
	done
	track "$init" "$prog"
	[ -n "$prog" ] || fail "$1: no program under thaw run $THAW_PID"
	kill -KILL "$prog"
	wait_status "$THAW_PID"
	[ "$STATUS" = 137 ] || fail "$1: thaw run exited $STATUS, want 137: $(cat "$TMP/$1.err")"
}

# ---- --snap-on-http with warm-up: snapshot on the first start, restored on the second
mkdir -p "$TMP/www"
head -c 3000 /dev/urandom | base64 >"$TMP/www/file.txt"
port=$(free_port)
url=http://127.0.0.1:$port/file.txt
run http1 --snap-on-http "$url" --warmup "$url" --warmup-count 3 -- \
	python3 "$TMP/srv.py" "$port" "$TMP/www" 0.5
wait_event http1 snapshot_created
grep -q '"event":"cold_start"' "$TMP/http1.json" || fail "http1: not a cold start"
gets=$(grep -c '"GET /file.txt' "$TMP/http1.err")
[ "$gets" -ge 4 ] || fail "http1: $gets requests before the snapshot, want a probe and 3 warm-ups"
curl -sf "$url" >"$TMP/http1.body" || fail "http1: no answer after the snapshot"
cmp -s "$TMP/http1.body" "$TMP/www/file.txt" || fail "http1: wrong answer"
stop http1

run http2 --snap-on-http "$url" --warmup "$url" --warmup-count 3 -- \
	python3 "$TMP/srv.py" "$port" "$TMP/www" 0.5
wait_event http2 restored
grep -q '"event":"cold_start"' "$TMP/http2.json" && fail "http2: cold start: $(cat "$TMP/http2.err")"
grep -q '"event":"snapshot_created"' "$TMP/http2.json" && fail "http2: snapshotted again"
# listening again before the restore returned: the first request is answered
curl -sf "$url" >"$TMP/http2.body" || fail "http2: no answer on port $port after the restore"
cmp -s "$TMP/http2.body" "$TMP/www/file.txt" || fail "http2: a different answer after the restore"
curl -sf "$url" >"$TMP/http2.body2" || fail "http2: no second answer"
cmp -s "$TMP/http2.body2" "$TMP/www/file.txt" || fail "http2: a different second answer"
grep -q '"GET /file.txt' "$TMP/http2.err" || fail "http2: the restored server logged nothing"
stop http2
log "http: snapshot after $gets requests, restored answers on port $port"

# ---- --snap-on-stdout: all output relayed in order; restored output still relayed
run out1 --snap-on-stdout '^ready [0-9a-f]+$' --snap-delay 0.3 -- python3 "$TMP/ticker.py"
wait_event out1 snapshot_created
for ((i = 0; i < TIMEOUT * 20; i++)); do
	grep -q '^tick' "$TMP/out1.out" && break
	sleep 0.05
done
stop out1
token=$(awk '$1 == "ready" { print $2 }' "$TMP/out1.out")
[ -n "$token" ] || fail "out1: no ready line"
python3 - "$TMP/out1.out" <<'EOF' || fail "out1: the output was not relayed whole and in order"
import sys
lines = open(sys.argv[1]).read().split("\n")
for i in range(2000):
    assert lines[i] == "line %d %s" % (i, "x" * (i % 97)), (i, lines[i])
assert lines[2000].startswith("ready ")
EOF
last=$(awk '$1 == "tick" { n = $3 } END { print n }' "$TMP/out1.out")

run out2 --snap-on-stdout '^ready [0-9a-f]+$' --snap-delay 0.3 -- python3 "$TMP/ticker.py"
wait_event out2 restored
for ((i = 0; i < TIMEOUT * 20; i++)); do
	[ "$(grep -c '^tick' "$TMP/out2.out")" -ge 3 ] && break
	sleep 0.05
done
stop out2
grep -q '"event":"cold_start"' "$TMP/out2.json" && fail "out2: cold start: $(cat "$TMP/out2.err")"
grep -q '^line 0 ' "$TMP/out2.out" && fail "out2: output from before the snapshot point again"
grep -q "^tick $token " "$TMP/out2.out" ||
	fail "out2: no ticks of the snapshotted program ($token): $(head -n 3 "$TMP/out2.out")"
first=$(awk '$1 == "tick" { print $3; exit }' "$TMP/out2.out")
[ "$first" -le $((last + 1)) ] || fail "out2: first tick $first, the snapshot had ticked to $last"
log "stdout: 2001 lines relayed in order; restored ticks go on from $first"

# ---- --snap-on-port: the snapshot waits until the program listens
port2=$(free_port)
run port1 --snap-on-port "$port2" -- python3 "$TMP/srv.py" "$port2" "$TMP/www" 1
wait_event port1 snapshot_created
# the server binds after 1 s: a snapshot before that would be of a program not yet ready
t=$(python3 -c 'import json, sys
print(int(min(e["time_ms"] for e in map(json.loads, open(sys.argv[1])) if e["event"] == "snapshot_created")))' "$TMP/port1.json")
[ "$t" -ge 900 ] || fail "port1: snapshot at $t ms, before the program listened"
stop port1
run port2 --snap-on-port "$port2" -- python3 "$TMP/srv.py" "$port2" "$TMP/www" 1
wait_event port2 restored
curl -sf "http://127.0.0.1:$port2/file.txt" >"$TMP/port2.body" || fail "port2: no answer"
cmp -s "$TMP/port2.body" "$TMP/www/file.txt" || fail "port2: a different answer"
stop port2

# ---- a condition that never comes: no snapshot, the program runs to its end
port3=$(free_port)
"$THAW" run --store "$STORE" --json-events "$TMP/never.json" --snap-on-port "$port3" \
	--snap-timeout 0.5 -- python3 -c 'import time; time.sleep(1.5); print("done")' \
	</dev/null >"$TMP/never.out" 2>"$TMP/never.err"
rc=$?
[ $rc = 0 ] || fail "never: exit $rc: $(cat "$TMP/never.err")"
grep -q '^done$' "$TMP/never.out" || fail "never: $(cat "$TMP/never.out")"
grep -q '"event":"snapshot_skipped"' "$TMP/never.json" || fail "never: no snapshot_skipped event"
grep -q "no snapshot of .*not ready within 0.5 s" "$TMP/never.err" ||
	fail "never: $(cat "$TMP/never.err")"
grep -q '"event":"snapshot_created"' "$TMP/never.json" && fail "never: snapshotted"

# a bad expression is a usage error before anything runs
"$THAW" run --store "$STORE" --snap-on-stdout '(' -- true 2>"$TMP/bad.err"
rc=$?
[ $rc = 2 ] || fail "bad regex: exit $rc"
pass
