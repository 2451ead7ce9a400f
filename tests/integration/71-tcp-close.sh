#!/bin/bash
# 71-tcp-close.sh - with --tcp-close an established TCP connection to a peer
# outside the process is dumped as closed (without it, it is kept:
# 92-tcp-peer.sh) and the restored program sees it reset (read fails with
# ECONNRESET), while its listeners work as before.
. "$(dirname "$0")/../lib.sh"
need_prog sock-server
need_thaw

free_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET6 if "'"$1"'" == "6" else socket.AF_INET)
s.bind(("::1" if "'"$1"'" == "6" else "127.0.0.1", 0)); print(s.getsockname()[1])'
}

# a peer outside: listens, never accepts, never sends
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)' "$TMP/peer.port" </dev/null >/dev/null 2>&1 &
track $!
for ((i = 0; i < 100; i++)); do [ -s "$TMP/peer.port" ] && break; sleep 0.05; done
lport=$(cat "$TMP/peer.port") || fail "the outside peer did not start"

p4=$(free_port 4)
p6=$(free_port 6)
start srv "$PROGS/sock-server" --port4 "$p4" --port6 "$p6" --unix "$TMP/srv.sock" \
	--abstract "thaw-tc-$$-$RANDOM" --connect4 "$lport"
wait_ready srv
orig=$PID
dump_ok "$orig" "$TMP/snap" --tcp-close
restore_detached r1 "$TMP/snap"
wait_line r1 '^conn: reset$' 10
finish r1 "$PID"
pass
