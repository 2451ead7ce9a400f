#!/bin/bash
# 44-inspect.sh - thaw inspect shows a snapshot's threads and memory map, as
# text and as JSON.
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_thaw

start orig "$PROGS/basic" --threads 3
wait_ready orig
tids=$(ls "/proc/$PID/task" | sort -n | tr '\n' ' ')
[ "$(echo $tids | wc -w)" = 4 ] || fail "expected 4 threads, found: $tids"
dump_ok "$PID" "$TMP/snap"

"$THAW" inspect "$TMP/snap" >"$TMP/inspect.out" 2>"$TMP/inspect.err" ||
	fail "thaw inspect failed: $(tail -n 3 "$TMP/inspect.err")"
for t in $tids; do
	grep -qw "$t" "$TMP/inspect.out" || fail "thaw inspect does not show thread $t"
done
grep -qF "$PROGS/basic" "$TMP/inspect.out" || fail "thaw inspect does not show the exe mapping"
grep -qF '[stack]' "$TMP/inspect.out" || fail "thaw inspect does not show [stack]"
grep -qE '[0-9a-f]{6,}-[0-9a-f]{6,}|0x[0-9a-f]{6,}' "$TMP/inspect.out" ||
	fail "thaw inspect shows no addresses"

"$THAW" inspect "$TMP/snap" --json >"$TMP/inspect.json" 2>"$TMP/inspect-json.err" ||
	fail "thaw inspect --json failed: $(tail -n 3 "$TMP/inspect-json.err")"
/usr/bin/python3 - "$TMP/inspect.json" "$PROGS/basic" $tids <<'PY' >"$TMP/json-check.log" 2>&1 ||
import json, sys

doc = json.load(open(sys.argv[1]))
exe, want = sys.argv[2], {int(t) for t in sys.argv[3:]}
tids, vmas = set(), []

def num(v):
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return int(v, 0)
    raise ValueError(v)

def walk(v):
    if isinstance(v, dict):
        if "tid" in v:
            tids.add(num(v["tid"]))
        if "start" in v and "end" in v:
            vmas.append(v)
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)

walk(doc)
errors = []
if tids != want:
    errors.append("threads in JSON %s, want %s" % (sorted(tids), sorted(want)))
if len(vmas) < 10:
    errors.append("only %d memory regions with start/end in JSON" % len(vmas))
if not all(num(v["start"]) < num(v["end"]) for v in vmas):
    errors.append("a region has start >= end")
if not any(exe in str(v.get("name", "")) or exe in json.dumps(v) for v in vmas):
    errors.append("no region names %s" % exe)
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
	fail "thaw inspect --json: $(cat "$TMP/json-check.log" | tr '\n' ';')"
pass
