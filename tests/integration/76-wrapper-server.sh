#!/bin/bash
# 76-wrapper-server.sh - issue 5's acceptance: a server started by a wrapper
# process (a bash script that runs a Python HTTP server as its child and
# waits), snapshotted by `thaw run --snap-on-http` once it answers, killed,
# and restored by the next `thaw run` of the same command: it answers the
# same request with the same body on the same port, without a line of its
# code changed.  The body holds a token the server drew at its start, so a
# cold start would answer differently.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_thaw
command -v python3 >/dev/null || skip "no python3"
command -v curl >/dev/null || skip "no curl"
STORE=$TMP/store

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A server that knows nothing of thaw: answers every GET with "hello TOKEN".
cat >"$TMP/srv.py" <<'EOF'
import http.server, os, sys
body = ("hello %s\n" % os.urandom(16).hex()).encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
EOF

# The wrapper: starts the server as its child and waits for it.
cat >"$TMP/wrapper.sh" <<'EOF'
#!/bin/bash
python3 "$(dirname "$0")/srv.py" "$1" &
wait
EOF
chmod +x "$TMP/wrapper.sh"

# run NAME THAW-OPTIONS... -- CMD...: thaw run in the background; sets THAW_PID.
run() {
	local name=$1
	shift
	"$THAW" run --store "$STORE" --json-events "$TMP/$name.json" "$@" </dev/null \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
}

# wait_event NAME EVENT: until thaw run NAME has emitted EVENT (bounded); a
# snapshot_failed or snapshot_skipped event fails at once.
wait_event() {
	local i
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		grep -q "\"event\":\"$2\"" "$TMP/$1.json" 2>/dev/null && return 0
		grep -qE '"event":"snapshot_(failed|skipped)"' "$TMP/$1.json" 2>/dev/null && break
		alive "$THAW_PID" || break
		sleep 0.05
	done
	track_tree "$THAW_PID"
	fail "$1: no $2 event: $(cat "$TMP/$1.json" "$TMP/$1.err" 2>/dev/null)"
}

# find_tree NAME: sets INIT, WRAPPER (CMD, the init's child) and SERVER (the
# wrapper's child, a python3 running srv.py) under thaw run $THAW_PID.
find_tree() {
	local i
	for ((i = 0; i < 100; i++)); do
		INIT=$(children_of "$THAW_PID" | awk '{ print $1 }')
		WRAPPER=$(children_of "$INIT" | awk '{ print $1 }')
		SERVER=$(children_of "$WRAPPER" | awk '{ print $1 }')
		[ -n "$SERVER" ] && break
		sleep 0.05
	done
	track "$INIT" "$WRAPPER" "$SERVER"
	[ -n "$WRAPPER" ] || fail "$1: no program under thaw run $THAW_PID"
	[ -n "$SERVER" ] || fail "$1: the wrapper $WRAPPER has no child"
	tr '\0' ' ' <"/proc/$WRAPPER/cmdline" | grep -q "wrapper.sh" ||
		fail "$1: the program is $(tr '\0' ' ' <"/proc/$WRAPPER/cmdline"), not the wrapper"
	tr '\0' ' ' <"/proc/$SERVER/cmdline" | grep -q "srv.py" ||
		fail "$1: the wrapper's child runs $(tr '\0' ' ' <"/proc/$SERVER/cmdline")"
	[ "$(awk '/^PPid:/ { print $2 }' "/proc/$SERVER/status")" = "$WRAPPER" ] ||
		fail "$1: the server's parent is not the wrapper"
	log "$1: thaw run $THAW_PID, init $INIT, wrapper $WRAPPER, server $SERVER"
}

# stop NAME: kills the wrapper by its PID; the server goes with it, thaw run exits 137.
stop() {
	kill -KILL "$WRAPPER"
	wait_status "$THAW_PID"
	[ "$STATUS" = 137 ] || fail "$1: thaw run exited $STATUS, want 137: $(cat "$TMP/$1.err")"
	wait_gone "$SERVER" 10 || fail "$1: the server $SERVER survived its wrapper and thaw run"
	wait_gone "$INIT" 10 || fail "$1: thaw's init $INIT survived"
}

port=$(free_port)
url=http://127.0.0.1:$port/
run http1 --snap-on-http "$url" -- "$TMP/wrapper.sh" "$port"
wait_event http1 snapshot_created
grep -q '"event":"cold_start"' "$TMP/http1.json" || fail "http1: not a cold start"
find_tree http1
curl -sf "$url" >"$TMP/http1.body" || fail "http1: no answer after the snapshot"
grep -qE '^hello [0-9a-f]{32}$' "$TMP/http1.body" || fail "http1: answer '$(cat "$TMP/http1.body")'"
stop http1
curl -sf "$url" >/dev/null 2>&1 && fail "port $port still answers after the first run was killed"

run http2 --snap-on-http "$url" -- "$TMP/wrapper.sh" "$port"
wait_event http2 restored
grep -q '"event":"cold_start"' "$TMP/http2.json" &&
	fail "http2: cold start: $(cat "$TMP/http2.err")"
grep -q '"event":"snapshot_created"' "$TMP/http2.json" && fail "http2: snapshotted again"
# listening again before the restore returned: the first request is answered
curl -sf "$url" >"$TMP/http2.body" || fail "http2: no answer on port $port after the restore"
cmp -s "$TMP/http1.body" "$TMP/http2.body" ||
	fail "http2: answered '$(cat "$TMP/http2.body")'," \
		"the snapshotted server '$(cat "$TMP/http1.body")'"
find_tree http2
for i in 1 2 3; do
	curl -sf "$url" >"$TMP/http2.body$i" || fail "http2: no answer to request $i"
	cmp -s "$TMP/http1.body" "$TMP/http2.body$i" || fail "http2: a different answer $i"
done
stop http2
log "restored wrapper + server answer '$(cat "$TMP/http1.body")' on port $port"
pass
