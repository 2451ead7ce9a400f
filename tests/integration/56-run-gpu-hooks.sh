#!/bin/bash
# 56-run-gpu-hooks.sh - the Python SDK's thaw.gpu.before_snapshot and
# thaw.gpu.after_restore hooks, no GPU needed (the hooks are ordinary
# callables).
#
# 1. In one process, against a fake control socket that already holds thaw's
#    answer: before_snapshot hooks run before the SDK asks for the snapshot,
#    after_restore hooks after the answer on every way on (restored,
#    snapshotted, failed), before the on_restore hooks, each in registration
#    order; neither runs outside thaw; both work as decorators; a raising
#    before_snapshot hook stops the snapshot point before thaw is asked.
# 2. Under thaw run: what a before_snapshot hook dropped is not in the
#    snapshot (the restored copy finds it gone) and the after_restore hook
#    rebuilds it, on the first start and in the restored copy.
. "$(dirname "$0")/../lib.sh"
need_thaw
PY=/usr/bin/python3
[ -x $PY ] || skip "no $PY"
SDK=$(cd "$(dirname "$0")/../../sdk/python" && pwd)

# ---- 1. unit: one fresh interpreter per case
cat >"$TMP/unit.py" <<'PYEOF'
import os, socket, sys
case = sys.argv[1]
log = []
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
fd = os.dup(b.fileno())          # the program's end, >= 3 like thaw's
b.close()
if case != "outside":
    os.environ["THAW_CONTROL_FD"] = str(fd)
    if case != "raises":
        a.send({"restored": b"restored", "snapshotted": b"snapshotted",
                "failed": b"failed: no reason"}[case])
import thaw

def asked():                     # what the program has sent to thaw so far
    a.setblocking(False)
    try:
        return a.recv(64).decode()
    except BlockingIOError:
        return ""

@thaw.gpu.before_snapshot
def before1():
    log.append("before1:" + asked())

thaw.gpu.before_snapshot(lambda: log.append("before2"))

@thaw.gpu.after_restore
def after1():
    log.append("after1")

thaw.gpu.after_restore(lambda: log.append("after2"))
thaw.on_restore(lambda: log.append("on_restore"))
assert before1.__name__ == "before1" and after1.__name__ == "after1"  # decorators return fn
try:
    thaw.gpu.before_snapshot(42)
    raise SystemExit("a non-callable hook was accepted")
except TypeError:
    pass
if case == "raises":
    def boom():
        raise RuntimeError("boom")
    thaw.gpu.before_snapshot(boom)
    try:
        thaw.snapshot()
        raise SystemExit("a raising before_snapshot hook did not propagate")
    except RuntimeError:
        pass
    log.append("sent:" + asked())
else:
    log.append("result:" + thaw.snapshot())
    thaw.snapshot()              # passed once: no hook runs again
thaw.gpu.release_torch_cache()   # no torch imported: nothing to do, no error
assert "torch" not in sys.modules
print(" ".join(log))
PYEOF
expect() {
	local got
	got=$(PYTHONPATH=$SDK $PY "$TMP/unit.py" "$1" 2>"$TMP/unit-$1.err") ||
		fail "unit $1: python failed: $(cat "$TMP/unit-$1.err")"
	[ "$got" = "$2" ] || fail "unit $1: got '$got', want '$2'"
	log "unit $1: $got"
}
expect restored "before1: before2 after1 after2 on_restore result:restored"
expect snapshotted "before1: before2 after1 after2 result:snapshotted"
expect failed "before1: before2 after1 after2 result:failed"
expect outside "result:disabled"
expect raises "before1: before2 sent:"

# ---- 2. under thaw run
cat >"$TMP/worker.py" <<'PYEOF'
import sys, thaw

class W:
    pass

w = W()
w.cache = bytearray(b"x" * (8 << 20))   # "worth dropping": rebuilt after restore
w.model = [1, 2, 3]                     # kept in the snapshot

@thaw.gpu.before_snapshot
def drop():
    w.cache = None

@thaw.gpu.after_restore
def rebuild():
    print("after_restore: cache was %s" % ("dropped" if w.cache is None else "kept"), flush=True)
    w.cache = bytearray(b"y" * (8 << 20))

r = thaw.snapshot()
print("result %s" % r, flush=True)
print("state model=%s cache=%d" % (w.model, len(w.cache)), flush=True)
PYEOF
STORE=$TMP/store
go() {
	local name=$1
	timeout -k 5 120 env -u _ "$THAW" run --store "$STORE" -- $PY "$TMP/worker.py" \
		</dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
	[ $? = 0 ] || fail "$name: thaw run failed"
}
go cold
grep -q '^result snapshotted$' "$TMP/cold.out" || fail "cold: not snapshotted"
go warm
grep -q '^result restored$' "$TMP/warm.out" || fail "warm: not restored"
for name in cold warm; do
	grep -q '^after_restore: cache was dropped$' "$TMP/$name.out" ||
		fail "$name: after_restore hook did not run after the drop"
	grep -q '^state model=\[1, 2, 3\] cache=8388608$' "$TMP/$name.out" ||
		fail "$name: state not rebuilt"
done
pass
