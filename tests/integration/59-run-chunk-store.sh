#!/bin/bash
# 59-run-chunk-store.sh - thaw run keeping its snapshots in a directory chunk
# store (--chunk-store, then recognised): cold start and snapshot, restored
# starts with the program's memory and output going on from the snapshot
# point, thaw snapshots lists and removes; a corrupted chunk is a cold start
# (the program still starts) and the next start restores again; encryption;
# --fixed-layout is part of the key and survives a restore; bad combinations
# of options are refused before anything runs; a Python program with a Popen
# child goes through the store and is restored whole.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
. "$(dirname "$0")/../store/run-lib.sh"
need_thaw
need_prog sdk-counter
"$THAW" run --help 2>&1 | grep -q -- --chunk-store || skip "this thaw run has no --chunk-store"
export THAW_RESTORE_TMPDIR=$TMP/shm
mkdir -p "$THAW_RESTORE_TMPDIR"
CS=$TMP/cs

# 1. a new directory made a chunk store: cold start, snapshot under run-KEY
counter cold --store "$CS" --chunk-store
was_cold cold
expect_err cold "thaw: cold start: no snapshot yet"
key=$(sed -n 's/.*snapshot created sdk-counter \([0-9a-f]*\) .*/\1/p' "$TMP/cold.err")
[ -s "$CS/names/run-$key" ] || fail "no name run-$key in the store: $(ls "$CS/names")"
[ -s "$CS/names/run-name-sdk-counter" ] || fail "no name run-name-sdk-counter"
compgen -G "$CS/$key*" >/dev/null && fail "a plain snapshot was written beside the chunk store"
no_copies "$CS"

# 2. the directory is recognised as a chunk store: restored, twice, nothing left behind
counter warm --store "$CS"
was_restored warm
no_copies "$CS"
counter warm2 --store "$CS"
was_restored warm2
no_copies "$CS"

# 2b. --lazy: the page server fetches the chunks it copies in on demand; the first lazy
# restore adds the working set it recorded to the store's snapshot, the next one copies it
# first (docs/lazy-restore.md)
counter lazy1 --store "$CS" --lazy
was_restored lazy1
no_copies "$CS"
for ((i = 0; i < TIMEOUT * 4; i++)); do
	rm -rf "$TMP/lazy.got"
	"$THAW" store --store "$CS" get "run-$key" --dir "$TMP/lazy.got" >/dev/null 2>&1 &&
		[ -s "$TMP/lazy.got/workset.idx" ] && break
	sleep 0.25
done
[ -s "$TMP/lazy.got/workset.idx" ] || fail "lazy1: no working set in the store's snapshot"
"$THAW" inspect "$TMP/lazy.got" >"$TMP/lazy-inspect.log" 2>&1 ||
	fail "lazy1: the store's snapshot with its record: $(tail -n 3 "$TMP/lazy-inspect.log")"
counter lazy2 --store "$CS" --lazy
was_restored lazy2
no_copies "$CS"

# 3. thaw snapshots lists it (no restore count in a chunk store)
"$THAW" snapshots --store "$CS" >"$TMP/list.log" 2>&1 || fail "snapshots: $(cat "$TMP/list.log")"
grep -qE "^sdk-counter +$key .* +-  " "$TMP/list.log" || fail "list: $(cat "$TMP/list.log")"
"$THAW" snapshots --store "$CS" --json | python3 -c \
	'import json,sys; d=json.load(sys.stdin); assert len(d)==1 and d[0]["name"]=="sdk-counter" and d[0]["restored"] is None, d' ||
	fail "snapshots --json"

# 4. a corrupted chunk: cold start with the store's reason, snapshotted again, then restored
flip_byte "$(some_chunk "$CS")" 300
counter corrupt --store "$CS"
expect_err corrupt "thaw: cold start: restore failed: chunk "
grep -qE "cold start: restore failed: chunk [0-9a-f]+ .*snapshot run-$key.*no tier has a good copy" \
	"$TMP/corrupt.err" || fail "corrupt: reason: $(cat "$TMP/corrupt.err")"
was_cold corrupt
no_copies "$CS"
counter healed --store "$CS"
was_restored healed corrupt

# 5. --fixed-layout is part of the key, and a restored copy keeps its personality
counter fixed --store "$CS" --fixed-layout
expect_err fixed "thaw: cold start: --fixed-layout was given"
was_cold fixed
counter_start fixedr --store "$CS" --fixed-layout
[ "$(cat /proc/"$PROG"/personality)" = 00040000 ] ||
	fail "restored --fixed-layout program has personality $(cat /proc/"$PROG"/personality)"
counter_stop fixedr
was_restored fixedr fixed
counter nofixed --store "$CS"
was_restored nofixed corrupt

# 6. encrypted with --key-file: restored with the key; without it, a cold start that still runs
KS=$TMP/ks
head -c 32 /dev/urandom >"$TMP/key"
counter kcold --store "$KS" --chunk-store --key-file "$TMP/key"
was_cold kcold
counter kwarm --store "$KS" --key-file "$TMP/key"
was_restored kwarm kcold
counter knokey --store "$KS"
expect_err knokey "thaw: cold start: snapshot metadata is unreadable: "
grep -q "a key file is needed" "$TMP/knokey.err" || fail "knokey: $(cat "$TMP/knokey.err")"

# 7. refused before anything runs: exit 2, the program never started
"$THAW" run --store "$TMP/plain" --cache "$TMP/c" -- /bin/true 2>"$TMP/bad1.err"
[ $? = 2 ] || fail "--cache with a plain store was not refused"
grep -q "need a chunk store" "$TMP/bad1.err" || fail "bad1: $(cat "$TMP/bad1.err")"
"$THAW" run --store "$CS" --cache "$TMP/c" -- /bin/true 2>"$TMP/bad2.err"
[ $? = 2 ] || fail "--cache with a directory chunk store was not refused"
counter plain --store "$TMP/plain"
was_cold plain
[ -s "$(ls "$TMP"/plain/*.json | head -n 1)" ] || fail "no plain snapshot"
"$THAW" run --store "$TMP/plain" --chunk-store -- /bin/true 2>"$TMP/bad3.err"
[ $? = 2 ] || fail "--chunk-store over plain snapshots was not refused"
grep -q "holds plain snapshots" "$TMP/bad3.err" || fail "bad3: $(cat "$TMP/bad3.err")"

# 8. a process tree goes into the chunk store (proc-PID/ files) and comes back whole
cat >"$TMP/tree.py" <<'PY'
import os, subprocess, sys, thaw
p = subprocess.Popen([sys.executable, "-c", "import sys\nfor l in sys.stdin: print(l.strip()[::-1], flush=True)"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
r = thaw.snapshot()
p.stdin.write("abc\n"); p.stdin.flush()
print("result", r, p.stdout.readline().strip(), flush=True)
p.kill()
p.wait()
PY
for run in tree-cold tree-warm; do
	"$THAW" run --store "$CS" -- /usr/bin/python3 "$TMP/tree.py" </dev/null >"$TMP/$run.out" 2>"$TMP/$run.err"
	[ $? = 0 ] || fail "$run: thaw run failed: $(cat "$TMP/$run.err")"
done
grep -q '^result snapshotted cba$' "$TMP/tree-cold.out" || fail "tree-cold: $(cat "$TMP/tree-cold.out" "$TMP/tree-cold.err")"
grep -q '^result restored cba$' "$TMP/tree-warm.out" || fail "tree-warm: $(cat "$TMP/tree-warm.out" "$TMP/tree-warm.err")"
no_copies "$CS"

# 9. rm drops the names; the next start is cold
"$THAW" snapshots --store "$CS" rm sdk-counter >"$TMP/rm.log" 2>&1 || fail "rm: $(cat "$TMP/rm.log")"
[ "$(grep -c '^removed ' "$TMP/rm.log")" = 2 ] || fail "rm: $(cat "$TMP/rm.log")"
"$THAW" snapshots --store "$CS" rm tree >"$TMP/rm2.log" 2>&1 || fail "rm tree: $(cat "$TMP/rm2.log")"
[ -z "$(ls "$CS/names")" ] || fail "names left after rm: $(ls "$CS/names")"
counter again --store "$CS"
expect_err again "thaw: cold start: no snapshot yet"
was_cold again
pass
