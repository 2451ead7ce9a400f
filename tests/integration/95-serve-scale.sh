#!/bin/bash
# 95-serve-scale.sh - thaw serve's scaling and its end: with --min-warm 0 no
# worker runs until a request comes (scale from zero: the first is cold and
# snapshotted), an idle worker is drained and stopped after the scale-down
# window (back to zero), a burst from zero is served by restored workers, and
# back to zero again with as many fds as the first time (nothing leaked).
# A second serve on the same store restores the first one's snapshot; SIGKILL
# of it takes every worker down, leaving no process and no namespace.  Two
# serves started at once on one remote store (two hosts) both miss and both
# publish the same name; it verifies whole, and a third serve with an empty
# cache restores from it.
. "$(dirname "$0")/../lib.sh"
need_thaw
. "$(dirname "$0")/../serve/lib.sh"

# wait_zero NAME: until serve NAME has no worker at all (bounded).
wait_zero() {
	local i
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		[ "$(status "$1" | python3 -c 'import json, sys
print(len(json.load(sys.stdin)["workers"]))' 2>/dev/null)" = 0 ] && return 0
		sleep 0.1
	done
	fail "serve $1 did not scale to zero: $(status "$1")"
}

nr_fds() {
	ls "/proc/$1/fd" | wc -l
}

serve A --store "$TMP/store" --min-warm 0 --max-workers 3 --scaledown-window 1
sleep 1
track_workers "$PID_A"
[ -z "$(descendants "$PID_A")" ] || fail "--min-warm 0 started a worker with no request"
get A /id >/dev/null || fail "no answer from zero"
grep -q '"event":"snapshot_created"' "$TMP/A.json" || fail "the first worker was not snapshotted"
wait_zero A
grep -q '"event":"worker_draining"' "$TMP/A.json" || fail "no drain event"
grep -q '"event":"worker_stopped"' "$TMP/A.json" || fail "no stop event"
fds=$(nr_fds "$PID_A")

# a burst from zero: restored workers serve it
jobs=()
for i in 1 2 3 4 5 6; do
	get A "/slow?ms=500" >"$TMP/burst.$i" &
	jobs+=($!)
	track $!
done
wait "${jobs[@]}"
for i in 1 2 3 4 5 6; do
	grep -q '^slow ' "$TMP/burst.$i" || fail "burst request $i: $(cat "$TMP/burst.$i")"
done
[ "$(metric A 'thaw_serve_worker_starts_total{kind="restored"}')" -ge 1 ] ||
	fail "the burst was not served by restored workers"
[ "$(metric A 'thaw_serve_worker_starts_total{kind="cold"}')" = 1 ] || fail "a second cold start"
wait_zero A
[ "$(nr_fds "$PID_A")" = "$fds" ] || fail "serve holds $(nr_fds "$PID_A") fds, $fds before the burst"
"$THAW" serve status --admin "127.0.0.1:$ADMIN_A" >"$TMP/status.txt" || fail "thaw serve status"
grep -q '^ID ' "$TMP/status.txt" || fail "status table: $(cat "$TMP/status.txt")"
stop_serve A

# another serve on the same store restores; SIGKILL of it leaves nothing
serve B --store "$TMP/store" --min-warm 2 --max-workers 2
wait_workers B 2
grep -q '"event":"cold_start"' "$TMP/B.json" && fail "B started cold: $(grep cold_start "$TMP/B.json")"
"$THAW" serve status --admin "127.0.0.1:$ADMIN_B" >"$TMP/statusB.txt"
[ "$(grep -c ' ready  *restored ' "$TMP/statusB.txt")" = 2 ] || fail "status: $(cat "$TMP/statusB.txt")"
track_workers "$PID_B"
pids=$(descendants "$PID_B")
nets=$(netns_of $pids)
[ -n "$nets" ] || fail "no worker namespaces seen"
kill -KILL "$PID_B"
for p in $pids; do
	wait_gone "$p" || fail "worker process $p outlived a SIGKILL of thaw serve"
done
held_by_any $nets && fail "a worker's network namespace outlived a SIGKILL of thaw serve"

# two hosts: two serves at once on one remote store (an HTTP object server),
# each with its own cache, both missing (the worker takes 2 s to start, so
# neither has published when the other looks) and both publishing; the store
# is whole afterwards, and a third serve with an empty cache restores from it
python3 "$(dirname "$0")/../store/fault-httpd.py" "$TMP/objects.port" >"$TMP/objects.log" 2>&1 &
track $!
for ((i = 0; i < TIMEOUT * 20; i++)); do
	[ -s "$TMP/objects.port" ] && break
	sleep 0.05
done
url=http://127.0.0.1:$(cat "$TMP/objects.port")/store
export WORKER_DELAY=2
serve C --store "$url" --cache "$TMP/cacheC" --min-warm 1
serve D --store "$url" --cache "$TMP/cacheD" --min-warm 1
wait_workers C 1
wait_workers D 1
c=$(get C /id) && d=$(get D /id) || fail "the racing serves do not both answer"
for n in C D; do
	[ "$(count_events $n snapshot_created)" = 1 ] ||
		fail "serve $n did not make a snapshot: no race ($(grep -h '"event":"\(cold_start\|restored\)"' "$TMP/$n.json"))"
done
stop_serve C
stop_serve D
# both raced for one name (one launch key); whichever PUT of it won, it names a whole snapshot
keys=$(python3 -c 'import json, sys
for f in sys.argv[1:]:
    for l in open(f):
        e = json.loads(l)
        if e["event"] == "snapshot_created": print(e["key"])' "$TMP/C.json" "$TMP/D.json" | sort -u)
[ "$(echo "$keys" | wc -l)" = 1 ] || fail "the racing serves made different keys: $keys"
"$THAW" store --store "$url" --cache "$TMP/cacheV" verify "run-$keys" >"$TMP/verify.out" 2>&1 ||
	fail "the raced name is not a whole snapshot: $(cat "$TMP/verify.out")"
serve E --store "$url" --cache "$TMP/cacheE" --min-warm 1
wait_workers E 1
grep -q '"event":"restored"' "$TMP/E.json" || fail "E did not restore: $(grep -h cold_start "$TMP/E.json")"
get E /id >/dev/null || fail "E does not answer"
stop_serve E
pass
