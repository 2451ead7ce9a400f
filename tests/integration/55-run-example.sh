#!/bin/bash
# 55-run-example.sh - the example worker (examples/worker.py, Python + torch)
# under `thaw run`, the way `make demo` and `make bench` run it: the first
# start is cold and snapshots, the next ones are restored, and the first line
# after the snapshot point is the same on every start.  Then bench/run.py
# measures one start of each kind into a JSON file of the expected shape.
. "$(dirname "$0")/../lib.sh"
need_thaw
PY=/usr/bin/python3
[ -x $PY ] || skip "no $PY"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TIMEOUT=180 # importing torch is slow on a cold machine
if ! "$PY" -c 'import torch' >"$TMP/import.log" 2>&1; then
	[ "${CI:-}" = true ] && fail "cannot import torch: $(tail -n 3 "$TMP/import.log")"
	skip "python3-torch not installed"
fi
STORE=$TMP/store

# go NAME: thaw run -- python3 examples/worker.py from the repository root.
go() {
	local name=$1
	(cd "$ROOT" && timeout -k 5 $TIMEOUT env -u _ "$THAW" run --store "$STORE" -- \
		$PY examples/worker.py </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err")
	STATUS=$?
	[ "$STATUS" = 0 ] || fail "$name: thaw run exited $STATUS"
	[ "$(wc -l <"$TMP/$name.out")" = 1 ] || fail "$name: want one line of output"
}
go cold
grep -q '^thaw: cold start: no snapshot yet$' "$TMP/cold.err" || fail "cold: not a cold start"
grep -q '^thaw: snapshot created worker ' "$TMP/cold.err" || fail "cold: no snapshot"
grep -q '^ready: output\[0\] = ' "$TMP/cold.out" || fail "cold: $(cat "$TMP/cold.out")"
for i in 1 2; do
	go warm$i
	grep -q '^thaw: restored worker from snapshot in ' "$TMP/warm$i.err" ||
		fail "warm$i: not restored"
	cmp -s "$TMP/cold.out" "$TMP/warm$i.out" ||
		fail "warm$i: first line differs: $(cat "$TMP/warm$i.out") / $(cat "$TMP/cold.out")"
done

# bench/run.py, one start of each kind, in a store of its own
BUILD=$BUILD timeout -k 5 600 $PY "$ROOT/bench/run.py" --build "$BUILD" --runs 1 \
	--store "$TMP/bench-store" --json "$TMP/bench.json" >"$TMP/bench.log" 2>&1 ||
	fail "bench/run.py failed"
$PY - "$TMP/bench.json" <<'PYEOF' || fail "bench.json: $(head -c 600 "$TMP/bench.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["error"] is None, d["error"]
assert [len(d[k]) for k in ("cold", "plain", "restored")] == [1, 1, 1]
assert d["cold"][0]["path"] == "cold" and d["restored"][0]["path"] == "restored"
assert d["line"].startswith("ready: output[0] = ")
m = d["median"]
for k in ("cold_first_output_ms", "restored_first_output_ms", "speedup", "snapshot_bytes"):
    assert isinstance(m[k], (int, float)) and m[k] > 0, k
PYEOF
grep -q 'speed-up' "$TMP/bench.log" || fail "bench/run.py printed no table"
pass
