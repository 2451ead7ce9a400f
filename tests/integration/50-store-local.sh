#!/bin/bash
# 50-store-local.sh - the local disk store: a snapshot directory round trip,
# dedup of a block two snapshots share, a flipped byte and a truncated chunk
# (clear errors naming chunk and snapshot), a file that ends in zero chunks,
# gc racing a writer, encryption with the right and the wrong key.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
need_store_cmd

S=$TMP/store
mksnap "$TMP/a" a --shared 8 --unique 1
mksnap "$TMP/b" b --shared 8 --unique 3

st_ok --store "$S" put "$TMP/a" --name a
one=$(chunk_bytes "$S")
st_ok --store "$S" get a --dir "$TMP/a.got"
same_dir "$TMP/a" "$TMP/a.got"

# a file that ends in zero chunks: get once read one chunk past the end of
# its list (under SANITIZE=1, a heap-buffer-overflow)
mkdir -m 700 "$TMP/z"
head -c 100000 /dev/urandom >"$TMP/z/data.img"
head -c 3000000 /dev/zero >>"$TMP/z/data.img"
echo 1 >"$TMP/z/manifest.json"
chmod 600 "$TMP/z"/*
st_ok --store "$S" put "$TMP/z" --name z
st_ok --store "$S" get z --dir "$TMP/z.got"
same_dir "$TMP/z" "$TMP/z.got"

# dedup: b shares the 8 MiB block at another offset; the store grows by b's
# 6 MiB of its own (plus the chunks at the block's edges), not by 14 MiB
st_ok --store "$S" put "$TMP/b" --name b
two=$(chunk_bytes "$S")
grow=$((two - one))
log "store: $one bytes after a, grew $grow for b"
[ $grow -lt $((9 * 1024 * 1024)) ] || fail "store grew $grow bytes for b: the shared block was stored twice"
st_ok --store "$S" get b --dir "$TMP/b.got"
same_dir "$TMP/b" "$TMP/b.got"
st_ok --store "$S" ls
grep -q '^a ' "$TMP/st.log" && grep -q '^b ' "$TMP/st.log" || fail "ls does not list a and b"
grep -qE 'dedup [0-9.]+x' "$TMP/st.log" || fail "ls shows no dedup ratio"
st_ok --store "$S" verify

# a flipped byte (in a store that holds only a, so every chunk is a's): get
# and verify name the chunk and the snapshot; nothing is published
S1=$TMP/store1
st_ok --store "$S1" put "$TMP/a" --name a
c=$(some_chunk "$S1")
id=${c##*/}
flip_byte "$c" 200
st_fails "chunk $id.*snapshot a" --store "$S1" get a --dir "$TMP/a.bad"
# a copy in the local tier is read back with its crc, not rehashed: the crc caught it
grep -q "chunk $id.*crc mismatch" "$TMP/st.log" || fail "the flipped byte was not a crc mismatch"
[ -e "$TMP/a.bad" ] && fail "a failed get left $TMP/a.bad"
compgen -G "$TMP/a.bad.tmp*" >/dev/null && fail "a failed get left its temporary directory"
[ -e "$c" ] && fail "the corrupt chunk was not discarded"
st_fails "bad chunks" --store "$S1" verify a
# put again repairs the store (the chunk is stored afresh)
st_ok --store "$S1" put "$TMP/a" --name a
st_ok --store "$S1" verify

# a chunk rewritten with its crcs recomputed to match: only someone who may
# write the store can (its directories and files pass the owner and mode
# checks of src/base/trust.c, 47-trust.sh), and reads from the local tier
# trust it; thaw store verify rehashes every chunk and catches it
c=$(some_chunk "$S1")
forge_chunk "$c"
st_ok --store "$S1" get a --dir "$TMP/a.forged"
diff -rq "$TMP/a" "$TMP/a.forged" >/dev/null && fail "the forged chunk was not what get returned"
st_fails "chunk ${c##*/}.*SHA-256 mismatch" --store "$S1" verify a
[ -e "$c" ] && fail "verify did not discard the forged chunk"
st_ok --store "$S1" put "$TMP/a" --name a
st_ok --store "$S1" verify

# a truncated chunk
c=$(some_chunk "$S1")
truncate -s 1000 "$c"
st_fails "chunk ${c##*/}.*no tier" --store "$S1" get a --dir "$TMP/a.bad"
grep -q truncated "$TMP/st.log" || fail "the truncated chunk was not reported as truncated"
[ -e "$TMP/a.bad" ] && fail "a failed get left $TMP/a.bad"
st_ok --store "$S1" put "$TMP/a" --name a

# gc: an unreferenced snapshot's chunks go, but only past the grace period
mksnap "$TMP/c" c --shared 1 --unique 2
st_ok --store "$S" put "$TMP/c" --name c
rm "$S/names/c"
before=$(chunk_bytes "$S")
st_ok --store "$S" gc
[ "$(chunk_bytes "$S")" = "$before" ] || fail "gc removed chunks younger than the grace period"
st_ok --store "$S" gc --grace 0
[ "$(chunk_bytes "$S")" -lt "$before" ] || fail "gc --grace 0 removed nothing"
st_ok --store "$S" verify
st_ok --store "$S" get a --dir "$TMP/a.2"
same_dir "$TMP/a" "$TMP/a.2"

# gc racing writers: gc --grace 0 in a loop while snapshots are put; every
# put that finished must come back whole
(
	for i in $(seq 1 15); do "$THAW" store --store "$S" gc --grace 0 >/dev/null 2>&1; done
) &
GC=$!
track $GC
for i in 1 2 3 4; do
	mksnap "$TMP/r$i" "r$i" --shared 2 --unique 1
	st_ok --store "$S" put "$TMP/r$i" --name "r$i"
done
wait_gone $GC 60 || fail "gc loop did not end"
for i in 1 2 3 4; do
	st_ok --store "$S" get "r$i" --dir "$TMP/r$i.got"
	same_dir "$TMP/r$i" "$TMP/r$i.got"
done

# encryption: right key round trips, wrong key and no key are clear errors
E=$TMP/enc
head -c 32 /dev/urandom >"$TMP/key"
head -c 32 /dev/urandom >"$TMP/wrong"
st_ok --store "$E" --key-file "$TMP/key" put "$TMP/a" --name a
st_ok --store "$E" --key-file "$TMP/key" put "$TMP/b" --name b
st_ok --store "$E" --key-file "$TMP/key" get a --dir "$TMP/a.enc"
same_dir "$TMP/a" "$TMP/a.enc"
st_fails "wrong key" --store "$E" --key-file "$TMP/wrong" get a --dir "$TMP/a.wrong"
st_fails "key file is needed" --store "$E" get a --dir "$TMP/a.nokey"
[ -e "$TMP/a.wrong" ] || [ -e "$TMP/a.nokey" ] && fail "a refused get left a directory"
# the server-side ids are not the plaintext digests: no chunk file is named
# like a chunk of the unencrypted store
for c in $(find "$E/chunks" -type f); do
	[ -e "$S/chunks/${c##*/}" ] && [ -n "$(ls "$S/names")" ] &&
		fail "encrypted chunk stored under its plaintext digest ${c##*/}"
done
# encrypted chunks still dedup: b added about its own bytes only
st_ok --store "$E" --key-file "$TMP/key" verify
pass
