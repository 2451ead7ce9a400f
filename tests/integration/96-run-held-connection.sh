#!/bin/bash
# 96-run-held-connection.sh - a server that still holds a connection it
# accepted (its client gone: CLOSE_WAIT) when thaw run snapshots it from
# outside (--snap-on-http dumps with --tcp-close): the connection comes back
# reset, and the snapshot restores.  It did not: the accepted socket's
# multicast TTL, inherited from the SYN, was kept and set again on a fresh
# stream socket (EINVAL), so every later start was a cold one - every
# restored worker of thaw serve too, whenever a warm-up connection was still
# open at the dump.
. "$(dirname "$0")/../lib.sh"
need_thaw
command -v python3 >/dev/null || skip "no python3"
command -v curl >/dev/null || skip "no curl"

cat >"$TMP/srv.py" <<'PY'
import os, socket
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(os.environ["PORT"])))
ls.listen(16)
held = []
while True:
    c, _ = ls.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    held.append(c)  # never closed
PY
export PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# run NAME EVENTS OPTIONS...: thaw run of the server, until it has emitted one of EVENTS (a BRE)
run() {
	local name=$1 events=$2 i
	shift 2
	"$THAW" run --store "$TMP/store" --json-events "$TMP/$name.json" "$@" -- \
		python3 "$TMP/srv.py" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		grep -q "\"event\":\"\($events\)\"" "$TMP/$name.json" 2>/dev/null && return
		sleep 0.05
	done
}

run first 'snapshot_created\|snapshot_failed\|snapshot_skipped' --snap-on-http "http://127.0.0.1:$PORT/" --warmup "http://127.0.0.1:$PORT/" \
	--warmup-count 3
grep -q '"event":"snapshot_created"' "$TMP/first.json" || fail "no snapshot: $(cat "$TMP/first.err")"
kill -TERM "$THAW_PID"
wait_gone "$THAW_PID" || fail "the first thaw run did not stop"
run second 'restored\|cold_start'
grep -q '"event":"restored"' "$TMP/second.json" ||
	fail "not restored: $(grep -h 'cold start' "$TMP/second.err")"
[ "$(curl -sS -m "$TIMEOUT" "http://127.0.0.1:$PORT/")" = ok ] || fail "the restored server does not answer"
pass
