#!/bin/bash
# 70-sockets.sh - a server's sockets come back: TCP over IPv4 and IPv6, Unix
# listeners with filesystem and abstract names, a bound UDP socket, socket
# pairs with bytes and messages queued, an epoll set over the listeners.
# The restored server answers a connection made the moment thaw restore
# --detach returns, with the same token, on the same ports.
. "$(dirname "$0")/../lib.sh"
need_prog sock-server
need_thaw

free_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET6 if "'"$1"'" == "6" else socket.AF_INET)
s.bind(("::1" if "'"$1"'" == "6" else "127.0.0.1", 0)); print(s.getsockname()[1])'
}
# ask KIND ADDR: one request; prints the answer line (or the error)
ask() {
	python3 - "$1" "$2" <<'PY'
import socket, sys
kind, addr = sys.argv[1], sys.argv[2]
if kind == "unix":
    s = socket.socket(socket.AF_UNIX)
    s.connect(addr)
elif kind == "abstract":
    s = socket.socket(socket.AF_UNIX)
    s.connect("\0" + addr)
else:
    s = socket.socket(socket.AF_INET6 if kind == "tcp6" else socket.AF_INET)
    s.settimeout(10)
    s.connect(("::1" if kind == "tcp6" else "127.0.0.1", int(addr)))
print(s.makefile().readline().strip())
PY
}

p4=$(free_port 4)
p6=$(free_port 6)
upath=$TMP/srv.sock
aname=thaw-test-$$-$RANDOM
start srv "$PROGS/sock-server" --port4 "$p4" --port6 "$p6" --unix "$upath" --abstract "$aname"
wait_ready srv
orig=$PID
a1=$(ask tcp4 "$p4") || fail "tcp4 request before the dump: $a1"
token=$(echo "$a1" | awk '{ print $2 }')
[ "$a1" = "pong $token 1" ] || fail "first answer: '$a1'"
a2=$(ask tcp6 "$p6")
[ "$a2" = "pong $token 2" ] || fail "second answer (tcp6): '$a2'"

dump_ok "$orig" "$TMP/snap"
check_snapshot "$TMP/snap"
"$THAW" inspect "$TMP/snap" >"$TMP/inspect.log" 2>&1 || fail "inspect failed"
grep -q 'inet stream listening 127.0.0.1:'"$p4" "$TMP/inspect.log" ||
	fail "inspect does not show the tcp4 listener: $(grep socket "$TMP/inspect.log")"

restore_detached r1 "$TMP/snap"
# at once: the listeners were back before the program ran again
a3=$(ask tcp4 "$p4") || fail "tcp4 right after restore: $a3"
[ "$a3" = "pong $token 3" ] || fail "tcp4 after restore: '$a3', want 'pong $token 3'"
a4=$(ask tcp6 "$p6")
[ "$a4" = "pong $token 4" ] || fail "tcp6 after restore: '$a4'"
a5=$(ask unix "$upath")
[ "$a5" = "pong $token 5" ] || fail "unix after restore: '$a5'"
a6=$(ask abstract "$aname")
[ "$a6" = "pong $token 6" ] || fail "abstract after restore: '$a6'"
finish r1 "$PID"
pass
