#!/bin/bash
# thaw-run.sh - kill -9 of `thaw run`, during a cold start and its snapshot
# and during a restore, with a plain store and a chunk store.  thaw run is
# its program's supervisor: the program ends with it (its init dies with
# thaw run), so after every kill nothing of it may be left: no process,
# namespace or mount.  The store never shows half a snapshot: every
# snapshot it names is whole, and a later start restores it or starts cold,
# never fails.  What a killed thaw run staged goes with the next snapshot.
. "$(dirname "$0")/lib.sh"
TRIES=${FAULT_TRIES:-10}
PLAIN=$TMP/plain
CHUNKS=$TMP/chunks

# run_cmd STORE KEY: the command line of a thaw run of basic; KEY
# (an environment variable) gives each cold start a launch key of its own.
run_cmd() {
	local store=$1 key=$2
	CMD=(env FAULT_KEY="$key" "$THAW" run --store "$store")
	[ "$store" = "$CHUNKS" ] && CMD+=(--chunk-store)
	CMD+=(--snap-on-stdout '^READY$' -- "$PROGS/basic")
}

# run_until NAME STORE KEY REGEX: thaw run in the background until its
# stderr says REGEX, then SIGUSR1 (passed on to basic: PASS, exit 0); sets
# ELAPSED (ms to REGEX).
run_until() {
	local name=$1 store=$2 key=$3 re=$4 pid t0 i
	run_cmd "$store" "$key"
	: >"$TMP/$name.err"
	t0=$(date +%s%N)
	"${CMD[@]}" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null &
	pid=$!
	track "$pid"
	for ((i = 0; i < TIMEOUT * 100; i++)); do
		grep -qE "$re" "$TMP/$name.err" && break
		alive "$pid" || break
		sleep 0.01
	done
	ELAPSED=$((($(date +%s%N) - t0) / 1000000))
	grep -qE "$re" "$TMP/$name.err" || fail "$name: no '$re': $(tail -n 3 "$TMP/$name.err")"
	kill -USR1 "$pid"
	wait_status "$pid"
	[ "$STATUS" = 0 ] || fail "$name: thaw run exited $STATUS: $(tail -n 3 "$TMP/$name.err")"
	grep -q '^PASS$' "$TMP/$name.out" || fail "$name: the program did not pass"
}

# whole_store STORE: every snapshot the store names is whole.
whole_store() {
	local store=$1 j key
	if [ "$store" = "$CHUNKS" ]; then
		"$THAW" store --store "$store" verify >"$TMP/verify.log" 2>&1 ||
			fail "the chunk store does not verify: $(tail -n 3 "$TMP/verify.log")"
		return 0
	fi
	for j in "$store"/*.json; do
		[ -e "$j" ] || continue
		key=${j##*/}
		key=${key%.json}
		[ -s "$store/$key/manifest.json" ] && [ -s "$store/$key/pages.img" ] ||
			fail "$store names $key, but its snapshot is not whole"
	done
}

# a snapshot of key "m" in each store: how long a cold start with its snapshot
# takes, and a restore
for store in "$PLAIN" "$CHUNKS"; do
	run_until cold "$store" m 'snapshot created'
	DCOLD=$ELAPSED
	run_until warm "$store" m 'restored .* from snapshot'
	DWARM=$ELAPSED
done
log "to a snapshot: $DCOLD ms; to a restored program: $DWARM ms"

# the narrow moments of the snapshot: registers borrowed, the snapshot
# written but not yet published, stored but not yet named
n=0
for store in "$PLAIN" "$CHUNKS"; do
	for point in inject:1 dump-published store-name; do
		[ $point = store-name ] && [ "$store" = "$PLAIN" ] && continue
		n=$((n + 1))
		run_cmd "$store" "fp$n"
		BEFORE=$(own_procs | tr '\n' ' ')
		{ THAW_FAULT=$point "${CMD[@]}" >"$TMP/fp$n.log" 2>&1 </dev/null; } 2>/dev/null
		rc=$?
		[ $rc = 137 ] || fail "THAW_FAULT=$point: thaw run exited $rc, not killed"
		name="fault point $point (${store##*/} store)"
		settle "$name" "$BEFORE"
		no_mounts "$name"
		whole_store "$store"
		log "$name: nothing left, the store is whole"
	done
done

for ((try = 1; try <= TRIES; try++)); do
	store=$PLAIN
	one_in 2 && store=$CHUNKS
	if one_in 2; then
		what=restore
		key=m
		rand_ms $((DWARM * 5 / 4))
	else
		what=cold
		key=t$try
		rand_ms $((DCOLD * 5 / 4))
	fi
	run_cmd "$store" "$key"
	BEFORE=$(own_procs | tr '\n' ' ')
	kill_after "$R" "$TMP/try$try.log" "${CMD[@]}"
	name="try $try ($what, ${store##*/} store, at $R ms, exit $KILLED_RC)"
	settle "$name" "$BEFORE"
	no_mounts "$name"
	whole_store "$store"
	log "$name: nothing left, the store is whole"
done

# what was named restores; what killed runs staged goes with the next snapshot
for store in "$PLAIN" "$CHUNKS"; do
	run_until after "$store" m 'restored .* from snapshot'
	run_until next "$store" next 'snapshot created'
	for e in "$store"/*; do
		e=${e##*/}
		case $e in
		chunks | manifests | names | tmp | lock | *.json) ;;
		*) [ -e "$store/$e.json" ] || fail "$e is left in $store" ;;
		esac
	done
done
pass
