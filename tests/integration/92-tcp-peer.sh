#!/bin/bash
# 92-tcp-peer.sh - an established TCP connection to a peer outside the
# snapshot, with bytes in flight both ways (the program's bytes the peer has
# not read; the bytes the peer sent, unread by the program),
# survives dump and restore on the same host while the peer waits: the peer
# then reads every byte the program sent once and in order, the program
# reads every byte of the peer's, and both talk on.  A dump with
# --leave-running takes the connection out of repair mode again: the
# program talks on as if nothing happened.  Before, the dump
# refused the connection.  (Bytes waiting for the peer's window are
# compat/tcp-established's: here the program would probe its peer, and the
# peer's answer in the gap would be reset: docs/sockets.md.)
. "$(dirname "$0")/../lib.sh"
need_prog tcp-client
need_thaw

# one_case DIR MODE: MODE kill (dump, restore, the restored program talks)
# or leave (dump --leave-running, and the program, out of repair mode, talks)
one_case() {
	local d=$1 mode=$2 i sent
	mkdir -p "$d"
	# the peer: accepts, sends its bytes, waits for "go" (the count the
	# program sent), reads them all and checks them, answers ping with pong
	python3 -c 'import os, socket, sys, time
d = sys.argv[1]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(d + "/peer.port.tmp", "w").write(str(s.getsockname()[1]))
os.rename(d + "/peer.port.tmp", d + "/peer.port")
c, _ = s.accept()
c.sendall(bytes((i * 7 + 1) % 251 for i in range(20000)))
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
n = int(open(d + "/go").read())
c.settimeout(20)
got = bytearray()
while len(got) < n + 4:
    b = c.recv(65536)
    if not b:
        break
    got += b
want = bytes((i * 7 + 2) % 251 for i in range(n)) + b"ping"
if bytes(got) != want:
    bad = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), None)
    r = "bad: %d bytes, want %d; first wrong byte %s" % (len(got), len(want), bad)
else:
    c.sendall(b"pong")
    r = "ok"
open(d + "/peer.result.tmp", "w").write(r)
os.rename(d + "/peer.result.tmp", d + "/peer.result")
time.sleep(5)' "$d" </dev/null >"$d/peer.log" 2>&1 &
	track $!
	for ((i = 0; i < 100; i++)); do [ -s "$d/peer.port" ] && break; sleep 0.05; done
	[ -s "$d/peer.port" ] || fail "the outside peer did not start"

	start "cli-$mode" "$PROGS/tcp-client" "$(cat "$d/peer.port")"
	wait_line "cli-$mode" '^(READY|FAIL)'
	grep -q '^FAIL' "$TMP/cli-$mode.out" && fail "tcp-client: $(grep '^FAIL' "$TMP/cli-$mode.out")"
	sent=$(sed -n 's/^sent //p' "$TMP/cli-$mode.out")
	log "$mode: the program sent $sent bytes before the dump"
	if [ "$mode" = kill ]; then
		dump_ok "$PID" "$d/snap"
		restore_detached "r1-$mode" "$d/snap"
		echo "$sent" >"$d/go"
		finish "r1-$mode" "$PID"
	else
		dump_ok "$PID" "$d/snap" --leave-running
		echo "$sent" >"$d/go"
		finish "cli-$mode" "$PID"
	fi
	for ((i = 0; i < 200; i++)); do [ -s "$d/peer.result" ] && break; sleep 0.05; done
	[ "$(cat "$d/peer.result" 2>/dev/null)" = ok ] ||
		fail "$mode: the peer: $(cat "$d/peer.result" "$d/peer.log" 2>/dev/null)"
}

one_case "$TMP/leave" leave
one_case "$TMP/kill" kill
pass
