#!/bin/bash
# 16-progress.sh - progress of long operations (base/progress.h): one line on
# stderr rewritten in place when stderr is a terminal (script(1) gives thaw a
# pseudo-terminal), none on a pipe or with -q; the same figures as JSON lines
# with --json-events, for dump, put, get, verify, push and pull (copy), gc, image push and
# restore (from a store, and from a directory).
. "$(dirname "$0")/../lib.sh"
need_thaw
PY=/usr/bin/python3
[ -x $PY ] || skip "no $PY"

# a program with 192 MiB of pages that are not zero
start big $PY -c 'import sys, time
b = bytearray(b"\x5a") * (192 << 20)
print("READY", flush=True)
time.sleep(1000)'
wait_ready big
big=$PID
cr=$'\r'
wipe=$'\r\033[K'

# on_tty LOG CMD...: CMD on a pseudo-terminal, what it wrote in LOG; returns CMD's status
on_tty() {
	local log=$1
	shift
	script -qefc "$*" "$log" >/dev/null 2>&1 </dev/null
}

# a dump on a terminal: "thaw dump: N MiB of M MiB (P%), R/s, T left", wiped at the end
# (-v: debug lines come while the line is up; each must start a line of its own)
on_tty "$TMP/dump.tty" "$THAW -v --json-events $TMP/dump.json dump --pid $big --dir $TMP/snap" ||
	fail "thaw dump on a terminal: $(tr '\r' '\n' <"$TMP/dump.tty" | tail -n 5)"
wait_gone "$big" 5 || fail "pid $big runs on after thaw dump"
grep -aqE "thaw dump: [0-9.]+ [KMG]?i?B of [0-9.]+ MiB \([0-9]+%\), [0-9.]+ [KMG]?i?B/s" \
	"$TMP/dump.tty" || fail "no progress line on the terminal: $(cat -v "$TMP/dump.tty" | head -c 600)"
grep -aqF "$wipe" "$TMP/dump.tty" || fail "the progress line was not wiped"
grep -aq "thaw dump: debug:" "$TMP/dump.tty" || fail "no debug lines with -v"
! tr '\r' '\n' <"$TMP/dump.tty" | grep -aq "thaw dump:.*thaw dump:" ||
	fail "a message was written after the progress line: $(tr '\r' '\n' <"$TMP/dump.tty" |
		grep -a "thaw dump:.*thaw dump:" | cat -v | head -n 2)"
# JSON: a progress event at once, one at the end with every byte
grep -q '"event":"progress"' "$TMP/dump.json" || fail "no progress event: $(head -n 3 "$TMP/dump.json")"
$PY - "$TMP/dump.json" <<'PYEOF' || fail "progress events: $(tail -n 3 "$TMP/dump.json")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert all(e["operation"] == "dump" for e in ev), ev
last = ev[-1]
assert last["event"] == "progress_done", last
assert last["bytes_done"] >= 192 << 20 and last["bytes_total"] >= 192 << 20, last
assert all(k in last for k in ("bytes_per_s", "seconds_left", "elapsed_s", "time_ms", "message"))
done = [e["bytes_done"] for e in ev]
assert done == sorted(done), done
PYEOF

# into a store, on a pipe: no progress on stderr, the events of dump and put in the file
restore_detached r1 "$TMP/snap"
p1=$PID
"$THAW" --json-events "$TMP/put.json" dump --pid "$p1" --store "$TMP/store" --name big \
	</dev/null >"$TMP/put.out" 2>"$TMP/put.err" || fail "dump into a store: $(cat "$TMP/put.err")"
wait_gone "$p1" 5 || fail "pid $p1 runs on after thaw dump"
! grep -q "$cr" "$TMP/put.err" || fail "progress on a pipe: $(cat -v "$TMP/put.err")"
for op in dump put; do
	grep -q "\"operation\":\"$op\"" "$TMP/put.json" || fail "no $op events: $(cat "$TMP/put.json")"
done

# store get, verify, push, pull on a terminal; -q on a terminal shows none
on_tty "$TMP/get.tty" "$THAW store --store $TMP/store get big --dir $TMP/got" ||
	fail "store get: $(cat -v "$TMP/get.tty")"
grep -aqE "thaw store: get [0-9.]+ [KMG]?i?B of" "$TMP/get.tty" || fail "get: $(cat -v "$TMP/get.tty")"
on_tty "$TMP/verify.tty" "$THAW store --store $TMP/store verify big" ||
	fail "store verify: $(cat -v "$TMP/verify.tty")"
grep -aqE "thaw store: verify [0-9.]+ [KMG]?i?B of" "$TMP/verify.tty" || fail "verify: $(cat -v "$TMP/verify.tty")"
on_tty "$TMP/push.tty" "$THAW store --store $TMP/store push big --to $TMP/other" ||
	fail "store push: $(cat -v "$TMP/push.tty")"
grep -aqE "thaw store: copy [0-9.]+ [KMG]?i?B of" "$TMP/push.tty" || fail "push: $(cat -v "$TMP/push.tty")"
on_tty "$TMP/pull.tty" "$THAW store --store $TMP/pulled pull big --from $TMP/other" ||
	fail "store pull: $(cat -v "$TMP/pull.tty")"
grep -aqE "thaw store: copy [0-9.]+ [KMG]?i?B of" "$TMP/pull.tty" || fail "pull: $(cat -v "$TMP/pull.tty")"
# gc: the bytes it looked at (how many there are is not known beforehand)
"$THAW" --json-events "$TMP/gc.json" store --store "$TMP/store" gc </dev/null >/dev/null 2>&1 ||
	fail "store gc"
grep -q '"event":"progress_done".*"operation":"gc"' "$TMP/gc.json" &&
	! grep -q '"bytes_done":0,' "$TMP/gc.json" || fail "gc events: $(cat "$TMP/gc.json")"
# image push: the bytes it stores as it walks the tree
mkdir "$TMP/tree"
head -c 3000000 /dev/urandom >"$TMP/tree/f"
"$THAW" --json-events "$TMP/push.json" image push "$TMP/tree" --name t --store "$TMP/images" \
	</dev/null >/dev/null 2>"$TMP/push.err" || fail "image push: $(cat "$TMP/push.err")"
$PY - "$TMP/push.json" <<'PYEOF' || fail "image push events: $(cat "$TMP/push.json")"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
assert last["event"] == "progress_done" and last["operation"] == "push", last
assert last["bytes_done"] >= 3000000, last
PYEOF
on_tty "$TMP/quiet.tty" "$THAW -q store --store $TMP/store verify big" || fail "store -q verify"
! grep -aq "thaw store: verify" "$TMP/quiet.tty" || fail "progress with -q: $(cat -v "$TMP/quiet.tty")"

# a restore from the store: its pages as they are decoded, as JSON on a pipe ...
"$THAW" --json-events "$TMP/restore.json" restore --store "$TMP/store" --name big --detach \
	--pidfile "$TMP/r2.pid" </dev/null >/dev/null 2>"$TMP/r2.err" ||
	fail "restore from the store: $(cat "$TMP/r2.err")"
p2=$(read_pidfile "$TMP/r2.pid") && track_restored "$p2"
grep -q '"operation":"restore".*"event":"progress_done"\|"event":"progress_done".*"operation":"restore"' \
	"$TMP/restore.json" || fail "no restore events: $(cat "$TMP/restore.json")"
! grep -q "$cr" "$TMP/r2.err" || fail "progress on a pipe: $(cat -v "$TMP/r2.err")"
kill -KILL "$p2"
# ... and on a terminal, in the foreground until the program is killed
rm -f "$TMP/r3.pid"
on_tty "$TMP/restore.tty" "$THAW restore --store $TMP/store --name big --pidfile $TMP/r3.pid" &
track $!
p3=$(read_pidfile "$TMP/r3.pid") || fail "the restore on a terminal wrote no pid"
track_restored "$p3"
kill -TERM "$p3"
wait_gone "$p3" 5 || fail "restored pid $p3 did not end"
wait
grep -aqE "thaw restore: [0-9.]+ [KMG]?i?B of" "$TMP/restore.tty" ||
	fail "restore: $(cat -v "$TMP/restore.tty" | head -c 600)"

# a restore from the directory: the pages the restored processes read themselves
"$THAW" --json-events "$TMP/rdir.json" restore --dir "$TMP/snap" --detach --pidfile "$TMP/r4.pid" \
	</dev/null >/dev/null 2>"$TMP/r4.err" || fail "restore from the directory: $(cat "$TMP/r4.err")"
p4=$(read_pidfile "$TMP/r4.pid") && track_restored "$p4"
$PY - "$TMP/rdir.json" <<'PYEOF' || fail "directory restore events: $(cat "$TMP/rdir.json")"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
assert last["event"] == "progress_done" and last["operation"] == "restore", last
assert last["bytes_done"] == last["bytes_total"] >= 192 << 20, last
PYEOF
pass
