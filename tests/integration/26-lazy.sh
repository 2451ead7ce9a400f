#!/bin/bash
# 26-lazy.sh - thaw restore --lazy (docs/lazy-restore.md): every kind of memory comes back
# through the page server as eagerly; the server exits once every page is in; a corrupted
# page run gives SIGBUS and an error naming the run, never zeros; a killed server kills
# the program.
. "$(dirname "$0")/../lib.sh"
need_prog memory
need_prog lazy-events
need_thaw

# snap NAME: memory.c in a work directory of its own (its shared files change), dumped
snap() {
	mkdir -p "$TMP/$1-work" || fail "mkdir"
	start "$1-prog" "$PROGS/memory" "$TMP/$1-work"
	wait_ready "$1-prog"
	sleep 0.3
	dump_ok "$PID" "$TMP/$1.snap"
}

# wait_err NAME RE: waits (bounded) for a line of thaw's log of NAME
wait_err() {
	local i
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		grep -qE "$2" "$TMP/$1.err" && return 0
		sleep 0.05
	done
	return 1
}

# 1. memory.c lazily: the same answers as the eager roundtrip (20-memory.sh)
snap m1
restore_detached lazy "$TMP/m1.snap" --lazy
[ "$(cat "$TMP/lazy.rc")" = 0 ] || fail "lazy restore failed: $(tail -n 5 "$TMP/lazy.err")"
SRV=$(lazy_server_pid lazy)
track "$SRV"
log "page server pid $SRV"
sleep 0.3
finish lazy "$PID"
# the background pass brings in the rest, then the server exits on its own
wait_gone "$SRV" "$TIMEOUT" || fail "the page server still runs after the program ended"
grep -q 'poisoned' "$TMP/lazy.err" && grep -q 'crc mismatch' "$TMP/lazy.err" &&
	fail "a clean snapshot was reported corrupted: $(grep crc "$TMP/lazy.err")"

# 2. the server is done before the program is asked: it has exited, the program runs on
snap m2
restore_detached lazy2 "$TMP/m2.snap" --lazy
SRV=$(lazy_server_pid lazy2)
track "$SRV"
wait_gone "$SRV" "$TIMEOUT" || fail "the page server did not exit after its background pass"
grep -q 'every page in' "$TMP/lazy2.err" || fail "the server did not say every page is in"
alive "$PID" || fail "the program died with its page server done"
finish lazy2 "$PID"

# 3. a corrupted page run: SIGBUS where it is touched, and an error naming the run
snap bad
# corrupt the first data run of the 256 MiB private anonymous region memory.c checks
python3 - "$TMP/bad.snap" <<'PY' || fail "could not corrupt a run of the big region"
import json, struct, sys
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
def vmas(o):
    if isinstance(o, dict):
        if "kind" in o and "start" in o and "end" in o:
            yield o
        for v in o.values():
            yield from vmas(v)
    elif isinstance(o, list):
        for v in o:
            yield from vmas(v)
num = lambda x: int(x, 0) if isinstance(x, str) else x
big = [v for v in vmas(m) if v["kind"] == "anon" and num(v["end"]) - num(v["start"]) >= 256 << 20]
idx = open(d + "/pages.idx", "rb").read()
n = struct.unpack_from("<Q", idx, 16)[0]
for i in range(n):
    vaddr, off, npages, flags, crc, _ = struct.unpack_from("<QQIIII", idx, 48 + 32 * i)
    if not flags and any(num(v["start"]) <= vaddr < num(v["end"]) for v in big):
        with open(d + "/pages.img", "r+b") as f:
            f.seek(off + 100)
            b = f.read(1)
            f.seek(off + 100)
            f.write(bytes([b[0] ^ 0xff]))
        print("corrupted run 0x%x" % vaddr)
        sys.exit(0)
sys.exit(1)
PY
"$THAW" -v restore --dir "$TMP/bad.snap" --lazy </dev/null >"$TMP/bad.out" 2>"$TMP/bad.err" &
THAW_PID=$!
track "$THAW_PID"
wait_err bad 'crc mismatch.*SIGBUS' ||
	fail "no error for the corrupted run: $(tail -n 5 "$TMP/bad.err")"
grep -qE 'page run 0x[0-9a-f]+-0x[0-9a-f]+' "$TMP/bad.err" || fail "the error names no run"
pid=$(sed -n 's/.* restored as \([0-9]*\) .*/\1/p' "$TMP/bad.err" | tail -n 1)
[ -n "$pid" ] && track_restored "$pid"
[ -n "$pid" ] && kill -USR1 "$pid" 2>/dev/null
wait_status "$THAW_PID"
# the program touched a poisoned page: SIGBUS (128+7); or the tracer did, and the restore
# failed; never a program running on zeros
[ "$STATUS" = 135 ] || [ "$STATUS" = 1 ] ||
	fail "corrupted lazy restore: status $STATUS, want 135 (SIGBUS) or 1"
log "corrupted lazy restore: status $STATUS"
grep -q '^PASS$' "$TMP/bad.out" && fail "the program passed on corrupted memory"
SRV=$(lazy_server_pid bad)
track "$SRV"
wait_gone "$SRV" "$TIMEOUT" || fail "the page server outlived its program"

# 4. the page server killed while pages are missing (no background pass: they stay
# missing): init kills the program with a message; it never runs on with zero pages
snap m3
THAW_LAZY_BACKGROUND=0 restore_detached lazy3 "$TMP/m3.snap" --lazy
SRV=$(lazy_server_pid lazy3)
track "$SRV"
alive "$PID" || fail "the program died before its page server was killed"
kill -KILL "$SRV"
wait_gone "$SRV" 5 || fail "page server $SRV did not die"
wait_gone "$PID" "$TIMEOUT" || fail "the program runs on after its page server was killed"
wait_err lazy3 'page server is gone' ||
	fail "no message about the page server: $(tail -n 3 "$TMP/lazy3.err")"
grep -q '^PASS$' "$TMP/lazy3.out" && fail "the program passed without its memory"

# 5. without the background pass, the server serves faults until the program ends, then goes
snap m4
THAW_LAZY_BACKGROUND=0 restore_detached lazy4 "$TMP/m4.snap" --lazy
SRV=$(lazy_server_pid lazy4)
track "$SRV"
sleep 0.3
alive "$SRV" || fail "the page server without background pass ended before the program"
finish lazy4 "$PID"
wait_gone "$SRV" "$TIMEOUT" || fail "the page server outlived its program"

# 6. fork, mremap and MADV_DONTNEED while pages are still missing (no background pass):
# the child sees its parent's memory, the moved pages are at their new place, dropped
# pages read zeros
control "$PROGS/lazy-events"
start ev "$PROGS/lazy-events"
wait_ready ev
dump_ok "$PID" "$TMP/ev.snap"
THAW_LAZY_BACKGROUND=0 restore_detached ev-restored "$TMP/ev.snap" --lazy
SRV=$(lazy_server_pid ev-restored)
track "$SRV"
finish ev-restored "$PID"
wait_gone "$SRV" "$TIMEOUT" || fail "the page server outlived its program"
pass
