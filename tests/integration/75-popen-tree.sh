#!/bin/bash
# 75-popen-tree.sh - a Python parent that runs a child server with
# subprocess.Popen and talks to it over its stdin/stdout pipes (one request
# line, one answer line).  At the dump an answer is waiting unread in the
# pipe.  Restored, the parent reads it, and the conversation goes on: the same
# child (same PID, same token, its count going on from 4), whose getppid() is
# the parent; closing its stdin ends it with status 0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"

cat >"$TMP/child.py" <<'EOF'
import os, sys
token = sys.argv[1]
count = 0
for line in sys.stdin:
    count += 1
    n = line.split()[1]
    print("resp %s %s %d %d %d" % (n, token, count, os.getpid(), os.getppid()), flush=True)
EOF

cat >"$TMP/parent.py" <<'EOF'
import os, select, signal, subprocess, sys, time
flag = []
signal.signal(signal.SIGUSR1, lambda sig, frame: flag.append(sig))
if os.getsid(0) != os.getpid():
    os.setsid()
failures = []
def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, flush=True)

me = os.getpid()
token = os.urandom(8).hex()
child = subprocess.Popen([sys.executable, sys.argv[1], token], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, bufsize=1)

def send(n):
    child.stdin.write("req %d\n" % n)
    child.stdin.flush()

def answer(n):
    ready, _, _ = select.select([child.stdout], [], [], 10)
    line = child.stdout.readline().strip() if ready else "(no answer within 10 s)"
    want = "resp %d %s %d %d %d" % (n, token, n, child.pid, me)
    check(line == want, "answer to req %d is '%s', want '%s'" % (n, line, want))

for n in (1, 2, 3):
    send(n)
    answer(n)
send(4)
# the answer is in the pipe, unread, before READY
ready, _, _ = select.select([child.stdout], [], [], 10)
check(ready, "no answer to req 4 before READY")
print("READY", flush=True)
while not flag:
    time.sleep(0.02)

check(os.getpid() == me, "getpid() is %d, was %d" % (os.getpid(), me))
check(os.getsid(0) == me and os.getpgrp() == me,
      "session %d group %d, want %d" % (os.getsid(0), os.getpgrp(), me))
check(child.poll() is None, "the child server exited: %r" % child.returncode)
answer(4)  # queued in the pipe at the dump
for n in range(5, 10):
    send(n)
    answer(n)
child.stdin.close()
try:
    rc = child.wait(timeout=10)
except subprocess.TimeoutExpired:
    rc = "still running 10 s after its stdin closed"
    child.kill()
check(rc == 0, "the child server's status at EOF: %r" % rc)
print("FAIL: %d checks failed" % len(failures) if failures else "PASS", flush=True)
sys.exit(1 if failures else 0)
EOF

# check_child ROOT WHAT: ROOT has one live child, a python3 running child.py
check_child() {
	local kids
	kids=$(children_of "$1")
	[ "$(echo "$kids" | wc -w)" = 1 ] || fail "$2: parent $1 has children '$kids', want 1"
	alive "$kids" || fail "$2: child $kids is not running"
	tr '\0' ' ' <"/proc/$kids/cmdline" | grep -q "child.py" ||
		fail "$2: child $kids runs $(tr '\0' ' ' <"/proc/$kids/cmdline")"
	log "$2: parent $1, child server $kids"
}

start control /usr/bin/python3 "$TMP/parent.py" "$TMP/child.py"
wait_ready control
track_tree "$PID"
check_child "$PID" control
finish control "$PID"
need_thaw

start popen /usr/bin/python3 "$TMP/parent.py" "$TMP/child.py"
wait_ready popen
track_tree "$PID"
check_child "$PID" original
sleep 0.3
dump_ok "$PID" "$TMP/snap"
check_snapshot "$TMP/snap"
restore_detached r1 "$TMP/snap"
track_tree "$PID"
check_child "$PID" restored
finish r1 "$PID"
pass
