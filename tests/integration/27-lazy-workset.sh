#!/bin/bash
# 27-lazy-workset.sh - the working set of a lazy restore (docs/lazy-restore.md): the first
# lazy restore records what the program touched into workset.idx, a part of the snapshot
# bound by its manifest; a later lazy restore copies it first and gives the same answers
# as an eager one; a damaged record is left out with a warning (and recorded again), while
# thaw inspect reports it as damage.  From a store (restore --store --lazy): chunks fetched
# on demand, the record kept in the store, a bad chunk never read as zeros.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
need_prog memory
need_thaw

# memory.c writes to its shared file, whose size, mtime and inode a restore compares:
# each restore gets the file as it was at the dump back, in place (the same inode)
reset_files() {
	local f
	for f in "$TMP/work.orig"/*; do
		cat "$f" >"$TMP/work/${f##*/}" && touch -r "$f" "$TMP/work/${f##*/}" ||
			fail "resetting ${f##*/}"
	done
}

# lazy NAME [ENV...]: restores the snapshot ($FROM: --dir DIR or --store S --name N) lazily,
# lets memory.c check itself, waits for the page server to be gone
FROM=(--dir "$TMP/m.snap")
lazy() {
	local name=$1 srv
	shift
	reset_files
	env "$@" THAW_LAZY_RECORD_MS=600000 "$THAW" -v restore "${FROM[@]}" --lazy \
		--detach --pidfile "$TMP/$name.pidfile" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" ||
		fail "$name: lazy restore failed: $(tail -n 5 "$TMP/$name.err")"
	PID=$(read_pidfile "$TMP/$name.pidfile") || fail "$name: no pidfile"
	track_restored "$PID"
	srv=$(lazy_server_pid "$name")
	track "$srv"
	# its check reads all of its memory, then it exits: the record ends with it
	kill -USR1 "$PID" || fail "$name: pid $PID is gone before SIGUSR1"
	wait_gone "$PID" "$TIMEOUT" || fail "$name: pid $PID still runs"
	wait_gone "$srv" "$TIMEOUT" || fail "$name: the page server outlived its program"
}

# the restored program writes its PASS to the log of the restore's caller: memory.c's
# output goes to thaw restore's stdout, which is $TMP/NAME.out
passed() {
	grep -q '^PASS$' "$TMP/$1.out" || fail "$1: memory.c did not pass: $(tail -n 3 "$TMP/$1.out")"
}

parts() {
	python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(open(sys.argv[1]))["parts"]["files"]))' \
		"$TMP/m.snap/manifest.json"
}

mkdir -p "$TMP/work" || fail mkdir
start prog "$PROGS/memory" "$TMP/work"
wait_ready prog
sleep 0.3
dump_ok "$PID" "$TMP/m.snap"
cp -a "$TMP/work" "$TMP/work.orig" || fail "cp"
cp -a "$TMP/m.snap" "$TMP/m-store.snap" || fail "cp"
[ -e "$TMP/m.snap/workset.idx" ] && fail "a fresh dump holds a working set"

# 1. the first lazy restore records the working set into the snapshot, bound by its manifest
lazy first
passed first
grep -q 'working set recorded into' "$TMP/first.err" ||
	fail "no working set recorded: $(grep -i 'lazy' "$TMP/first.err" | tail -n 3)"
[ -s "$TMP/m.snap/workset.idx" ] || fail "no workset.idx in the snapshot"
parts | grep -qw workset.idx || fail "the manifest does not bind workset.idx: $(parts)"
ls -d "$TMP"/m.snap.tmp-* 2>/dev/null && fail "a mirror directory was left behind"
"$THAW" inspect "$TMP/m.snap" >"$TMP/inspect.out" 2>&1 ||
	fail "thaw inspect refuses the snapshot with its record: $(tail -n 3 "$TMP/inspect.out")"
REC=$(sha256sum <"$TMP/m.snap/workset.idx")

# 2. a later lazy restore copies the working set first, and memory.c checks every page
lazy second
passed second
grep -q 'working set recorded' "$TMP/second.err" && fail "a snapshot with a record recorded again"
n=$(sed -n 's/.* \([0-9]*\) of the working set.*/\1/p' "$TMP/second.err" | tail -n 1)
[ -n "$n" ] && [ "$n" -gt 0 ] ||
	fail "no page came from the working set: $(grep 'every page in' "$TMP/second.err")"
log "second lazy restore: $n pages of the working set copied first"
[ "$(sha256sum <"$TMP/m.snap/workset.idx")" = "$REC" ] || fail "the record changed"

# 3. an eager restore of the snapshot with its record
reset_files
restore_detached eager "$TMP/m.snap"
finish eager "$PID"

# 4. THAW_LAZY_WORKSET=0: plain lazy paging, the record neither used nor replaced
lazy plain THAW_LAZY_WORKSET=0
passed plain
grep -q 'pages on demand, 0 of the working set' "$TMP/plain.err" ||
	fail "THAW_LAZY_WORKSET=0 used the record: $(grep 'every page in' "$TMP/plain.err")"

# 5. a damaged record: inspect says so; a lazy restore warns, leaves it out, and records anew
python3 - "$TMP/m.snap/workset.idx" <<'PY' || fail "could not damage the record"
import sys
with open(sys.argv[1], "r+b") as f:
    b = bytearray(f.read())
    b[-3] ^= 0x40
    f.seek(0)
    f.write(b)
PY
"$THAW" inspect "$TMP/m.snap" >"$TMP/inspect2.out" 2>&1 &&
	fail "thaw inspect passes a damaged workset.idx"
grep -q 'workset.idx' "$TMP/inspect2.out" ||
	fail "thaw inspect does not name workset.idx: $(tail -n 3 "$TMP/inspect2.out")"
lazy damaged
passed damaged
grep -q 'workset.idx: its SHA-256 does not match.*left out' "$TMP/damaged.err" ||
	fail "no warning about the damaged record: $(grep -i workset "$TMP/damaged.err")"
grep -q 'working set recorded into' "$TMP/damaged.err" || fail "the damaged record was not replaced"
"$THAW" inspect "$TMP/m.snap" >"$TMP/inspect3.out" 2>&1 ||
	fail "the replaced record does not pass inspect: $(tail -n 3 "$TMP/inspect3.out")"

# 6. from a store: memory.c put into a directory store before any record
st_ok --store "$TMP/store" put "$TMP/m-store.snap" --name m
FROM=(--store "$TMP/store" --name m)
lazy s-first
passed s-first
grep -q 'working set recorded into the store' "$TMP/s-first.err" ||
	fail "no working set recorded into the store: $(grep -i 'lazy\|error' "$TMP/s-first.err" | tail -n 3)"
st_ok --store "$TMP/store" get m --dir "$TMP/m-got.snap"
[ -s "$TMP/m-got.snap/workset.idx" ] || fail "the store's snapshot has no workset.idx"
"$THAW" inspect "$TMP/m-got.snap" >"$TMP/inspect5.out" 2>&1 ||
	fail "the store's snapshot with its record does not pass inspect: $(tail -n 3 "$TMP/inspect5.out")"
lazy s-second
passed s-second
n=$(sed -n 's/.* \([0-9]*\) of the working set.*/\1/p' "$TMP/s-second.err" | tail -n 1)
[ -n "$n" ] && [ "$n" -gt 0 ] ||
	fail "store: no page came from the working set: $(grep 'every page in' "$TMP/s-second.err")"
log "second lazy restore from the store: $n pages of the working set copied first"
reset_files
restore_detached_from s-eager "${FROM[@]}"
finish s-eager "$PID"

# 7. a damaged chunk under a lazy restore from the store: the restore fails or the program
# gets SIGBUS where it touches it; it never passes on zeros
flip_byte "$(some_chunk "$TMP/store")" 300
reset_files
"$THAW" -v restore "${FROM[@]}" --lazy </dev/null >"$TMP/s-bad.out" 2>"$TMP/s-bad.err" &
THAW_PID=$!
track "$THAW_PID"
for ((i = 0; i < TIMEOUT * 20; i++)); do
	grep -qE 'restored as [0-9]+|error' "$TMP/s-bad.err" && break
	sleep 0.05
done
pid=$(sed -n 's/.* restored as \([0-9]*\) .*/\1/p' "$TMP/s-bad.err" | tail -n 1)
[ -n "$pid" ] && track_restored "$pid" && kill -USR1 "$pid" 2>/dev/null
wait_status "$THAW_PID"
[ "$STATUS" = 135 ] || [ "$STATUS" = 1 ] ||
	fail "damaged chunk, lazy restore: status $STATUS, want 135 (SIGBUS) or 1"
grep -q '^PASS$' "$TMP/s-bad.out" && fail "the program passed on a damaged chunk"
grep -qE 'chunk [0-9a-f]+' "$TMP/s-bad.err" || fail "no error names the chunk: $(tail -n 3 "$TMP/s-bad.err")"
log "damaged chunk, lazy restore: status $STATUS"
FROM=(--dir "$TMP/m.snap")

# 8. a record of another snapshot (its id differs) is refused as well
mkdir -p "$TMP/work2" || fail mkdir
start prog2 "$PROGS/memory" "$TMP/work2"
wait_ready prog2
sleep 0.3
dump_ok "$PID" "$TMP/m2.snap"
cp "$TMP/m.snap/workset.idx" "$TMP/m2.snap/workset.idx" || fail cp
python3 - "$TMP/m2.snap" <<'PY' || fail "could not bind the foreign record"
import hashlib, json, os, sys, zlib
d = sys.argv[1]
rec = open(d + "/workset.idx", "rb").read()
m = json.load(open(d + "/manifest.json"))
m["parts"]["files"].append({"name": "workset.idx", "size": len(rec),
                            "sha256": hashlib.sha256(rec).hexdigest()})
text = json.dumps(m, separators=(",", ":"))
open(d + "/manifest.json", "w").write(text)
PY
# the manifest's own crc is CRC-32C: thaw inspect names the mismatch, python has no CRC-32C
"$THAW" inspect "$TMP/m2.snap" >"$TMP/inspect4.out" 2>&1
want=$(sed -n 's/.*manifest.json: crc \(0x[0-9a-f]*\) does not match.*/\1/p' "$TMP/inspect4.out")
[ -n "$want" ] || fail "no crc from inspect: $(tail -n 3 "$TMP/inspect4.out")"
printf '%08x\n' "$want" >"$TMP/m2.snap/manifest.crc"
restore_detached foreign "$TMP/m2.snap" --lazy
grep -q 'workset.idx: belongs to another snapshot.*left out' "$TMP/foreign.err" ||
	fail "a foreign record was not refused: $(grep -i workset "$TMP/foreign.err")"
finish foreign "$PID"
pass
