#!/bin/bash
# store.sh - kill -9 of `thaw store put` and `thaw store gc` at random
# moments: a name appears only with its whole snapshot behind it (every name
# verifies and gets back byte for byte), gc never takes what a name reaches,
# and what a killed put left (unnamed objects, tmp/) goes with gc.
. "$(dirname "$0")/lib.sh"
TRIES=${FAULT_TRIES:-12}
STORE=$TMP/store

st_run() {
	"$THAW" store --store "$STORE" "$@" >"$TMP/st.log" 2>&1 ||
		fail "thaw store $*: $(tail -n 3 "$TMP/st.log")"
}

# every name is whole: it verifies (every chunk read and checked)
whole_store() {
	st_run verify
}

# and comes back byte for byte
get_back() {
	local name f
	for name in $(ls "$STORE/names"); do
		rm -rf "$TMP/got"
		st_run get "$name" --dir "$TMP/got"
		for f in "$TMP/snap"/*; do
			cmp -s "$f" "$TMP/got/${f##*/}" || fail "$name: ${f##*/} differs after a get"
		done
	done
}

start prog "$PROGS/basic"
wait_ready prog
dump_ok "$PID" "$TMP/snap"
cp -r "$TMP/snap" "$TMP/put"
head -c 1M /dev/urandom >"$TMP/put/noise"
t0=$(date +%s%N)
st_run put "$TMP/put" --name first
DPUT=$((($(date +%s%N) - t0) / 1000000))
rm "$STORE/names/first" # unreferenced: gc has something to do
t0=$(date +%s%N)
st_run --grace 0 gc
DGC=$((($(date +%s%N) - t0) / 1000000))
log "a put takes $DPUT ms, a gc $DGC ms here"

for ((try = 1; try <= TRIES; try++)); do
	BEFORE=$(own_procs | tr '\n' ' ')
	if one_in 3; then
		# something for gc to remove, and something it must keep
		st_run put "$TMP/snap" --name "gone$try" --chunk-size 65536
		rm "$STORE/names/gone$try"
		rand_ms $((DGC * 5 / 4))
		what="gc at $R ms"
		kill_after "$R" "$TMP/try$try.log" "$THAW" store --store "$STORE" --grace 0 gc
	else
		# new bytes every time, or a put would find everything stored already
		rm -rf "$TMP/put"
		cp -r "$TMP/snap" "$TMP/put"
		head -c 1M /dev/urandom >"$TMP/put/noise"
		rand_ms $((DPUT * 5 / 4))
		what="put at $R ms"
		kill_after "$R" "$TMP/try$try.log" "$THAW" store --store "$STORE" put "$TMP/put" \
			--name "p$try"
	fi
	what="try $try ($what, exit $KILLED_RC)"
	settle "$what" "$BEFORE"
	whole_store
	log "$what: every name whole"
done

st_run --grace 0 gc
[ -z "$(ls -A "$STORE/tmp")" ] || fail "gc left $(ls -A "$STORE/tmp" | tr '\n' ' ') in tmp/"
whole_store
get_back
pass
