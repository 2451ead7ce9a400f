#!/bin/bash
# 40-dump-refused.sh - a dump thaw cannot complete fails cleanly: the error
# names the fd (or the file it could not write), no snapshot appears and the
# program runs on unharmed.
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_prog sock-server
need_thaw

# a TCP connection its peer outside the process has closed (CLOSE-WAIT: thaw
# keeps established connections only)
python3 -c 'import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
c, _ = s.accept(); c.close()
time.sleep(600)' "$TMP/peer.port" </dev/null >/dev/null 2>&1 &
track $!
for ((i = 0; i < 100; i++)); do [ -s "$TMP/peer.port" ] && break; sleep 0.05; done
[ -s "$TMP/peer.port" ] || fail "the outside peer did not start"
start sock "$PROGS/sock-server" --port4 0 --port6 0 --unix "$TMP/srv.sock" \
	--abstract "thaw-refused-$$" --connect4 "$(cat "$TMP/peer.port")"
wait_ready sock
wait_line sock '^conn: eof$'
if dump "$PID" "$TMP/snap"; then
	fail "dump of a program holding a TCP connection succeeded"
fi
grep -qE 'fd [0-9]+ \(socket:\[[0-9]+\]\): TCP connection .* close-wait: thaw keeps established' \
	"$TMP/dump.log" ||
	fail "the error does not name the socket fd: $(tail -n 3 "$TMP/dump.log")"
[ -e "$TMP/snap" ] && fail "a failed dump left $TMP/snap"
compgen -G "$TMP/snap.*" >/dev/null && fail "a failed dump left a temporary directory"
alive "$PID" || fail "the program died in a failed dump"
sleep 0.2
finish sock "$PID"

# a snapshot directory that exists already is never overwritten
start exists "$PROGS/basic"
wait_ready exists
mkdir "$TMP/taken" && echo keep >"$TMP/taken/file"
if dump "$PID" "$TMP/taken"; then
	fail "dump into an existing directory succeeded"
fi
[ "$(cat "$TMP/taken/file")" = keep ] && [ "$(ls "$TMP/taken")" = file ] ||
	fail "dump changed the existing directory"
alive "$PID" || fail "the program died in a refused dump"
finish exists "$PID"

# pages.img cannot be written whole (a file size limit, SIGXFSZ ignored:
# EFBIG): a page copier's error fails the dump, naming the file
start_holding big 24
wait_ready big
(
	trap '' XFSZ
	ulimit -f 8192
	exec timeout -k 5 120 "$THAW" dump --pid "$PID" --dir "$TMP/bigsnap"
) >"$TMP/big.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "dump past the file size limit exited $rc, want 1: $(tail -n 3 "$TMP/big.log")"
grep -q 'of pages.img: File too large' "$TMP/big.log" ||
	fail "the error does not name pages.img: $(tail -n 3 "$TMP/big.log")"
[ -e "$TMP/bigsnap" ] && fail "a failed dump left $TMP/bigsnap"
compgen -G "$TMP/bigsnap.*" >/dev/null && fail "a failed dump left a temporary directory"
sleep 0.2
alive "$PID" || fail "the program died in a failed dump"
case $(awk '/^State:/ { print $2 }' "/proc/$PID/status") in
[tT]) fail "the program is still stopped after a failed dump" ;;
esac
kill -KILL "$PID"
wait_gone "$PID" 5 || fail "pid $PID did not die"

# a PID that does not exist
"$THAW" dump --pid 999999999 --dir "$TMP/nopid" >"$TMP/nopid.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "dump of a missing pid exited $rc, want 1"
[ -s "$TMP/nopid.log" ] || fail "dump of a missing pid failed without a message"
[ -e "$TMP/nopid" ] && fail "dump of a missing pid left a snapshot"
pass
