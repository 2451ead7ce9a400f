#!/bin/bash
# 74-fork-server.sh - a pre-forking C server (tests/programs/fork-server.c):
# 4 workers accept() on one listening socket shared with their parent, with
# bytes queued both ways on a socketpair per worker at the dump.  Restored,
# the listener is back before thaw restore --detach returns: 20 concurrent
# connections made at once all get the answer of before (same token, same
# port), the per-worker counts in shared memory add up to every connection
# served, and every worker finds its queued bytes and its parent.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_prog fork-server
command -v python3 >/dev/null || skip "no python3"

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ask PORT N: N connections at once; prints each answer line (or the error), one a line
ask() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
out = [None] * n
def one(i):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        out[i] = s.makefile().readline().strip() or "(empty answer)"
        s.close()
    except OSError as e:
        out[i] = "error: %s" % e
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\n".join(out))
PY
}

# check_workers ROOT WHAT: ROOT has 4 live children
check_workers() {
	local kids p
	kids=$(children_of "$1")
	[ "$(echo "$kids" | wc -w)" = 4 ] ||
		fail "$2: server $1 has children '$kids', want 4 workers"
	for p in $kids; do
		alive "$p" || fail "$2: worker $p is not running"
	done
}

port=$(free_port)
start control "$PROGS/fork-server" "$port"
wait_ready control
track_tree "$PID"
check_workers "$PID" control
finish control "$PID"
need_thaw

port=$(free_port)
start srv "$PROGS/fork-server" "$port"
wait_ready srv
track_tree "$PID"
orig=$PID
check_workers "$orig" original
ask "$port" 5 >"$TMP/before.txt"
token=$(awk 'NR == 1 { print $2 }' "$TMP/before.txt")
if [ -z "$token" ] || [ "$(grep -c "^pong $token\$" "$TMP/before.txt")" != 5 ]; then
	fail "answers before the dump: $(tr '\n' ';' <"$TMP/before.txt")"
fi
sleep 0.3 # the workers are back in accept
dump_ok "$orig" "$TMP/snap"
check_snapshot "$TMP/snap"
ask "$port" 1 | grep -q '^error' || fail "port $port still answers after the dump"

restore_detached r1 "$TMP/snap"
track_tree "$PID"
# at once: the listener was back before the program ran again
ask "$port" 20 >"$TMP/after.txt"
n=$(grep -c "^pong $token\$" "$TMP/after.txt")
[ "$n" = 20 ] || fail "after restore, $n of 20 connections got 'pong $token':" \
	"$(sort "$TMP/after.txt" | uniq -c | tr '\n' ';')"
check_workers "$PID" restored
finish r1 "$PID"
served=$(awk '$1 == "SERVED" { print $2 }' "$TMP/r1.out")
[ "$served" = 25 ] ||
	fail "the workers counted $served connections, want 25: $(grep SERVED "$TMP/r1.out")"
log "restored: 20 of 20 answered by workers ($(grep SERVED "$TMP/r1.out"))"
pass
