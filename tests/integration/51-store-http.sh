#!/bin/bash
# 51-store-http.sh - the store over HTTP against Debian's nginx (WebDAV PUT)
# on 127.0.0.1: put through a cache, get with a cold cache (every tier read
# through and filled), push/pull, a flipped byte in the cache (fetched again
# from the server) and on the server (a clear error naming the chunk).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
. "$(dirname "$0")/../store/nginx.sh"
need_store_cmd
nginx_start
U=$NGINX_URL

mksnap "$TMP/a" a --shared 4 --unique 2
st_ok --store "$U" --cache "$TMP/cache1" put "$TMP/a" --name a
[ -s "$TMP/www/store/names/a" ] || fail "the name was not PUT to the server"
# cold cache: everything comes from nginx and fills the cache
st_ok --store "$U" --cache "$TMP/cache2" get a --dir "$TMP/a.got"
same_dir "$TMP/a" "$TMP/a.got"
n=$(find "$TMP/cache2/chunks" -type f | wc -l)
[ "$n" -gt 0 ] || fail "the cache was not filled on the way back"
# warm cache, server gone wrong for one chunk: the cache serves it
c=$(some_chunk "$TMP/cache2")
id=${c##*/}
flip_byte "$c" 300
st_ok --store "$U" --cache "$TMP/cache2" get a --dir "$TMP/a.2"
same_dir "$TMP/a" "$TMP/a.2"
grep -q "chunk $id.*discarded" "$TMP/st.log" || fail "the bad cached chunk was not reported"
st_ok --store "$U" --cache "$TMP/cache2" verify a
# a flipped byte on the server, cold cache: clear error, nothing published
flip_byte "$TMP/www/store/chunks/$id" 300
st_fails "chunk $id.*snapshot a.*no tier has a good copy" \
	--store "$U" --cache "$TMP/cache3" get a --dir "$TMP/a.bad"
[ -e "$TMP/a.bad" ] && fail "a failed get left $TMP/a.bad"
# putting the snapshot again stores what the server lacks
rm -f "$TMP/www/store/chunks/$id"
st_ok --store "$U" --cache "$TMP/cache1" put "$TMP/a" --name a
st_ok --store "$U" --cache "$TMP/cache8" get a --dir "$TMP/a.3"
same_dir "$TMP/a" "$TMP/a.3"
# push and pull between a local store and the server
mksnap "$TMP/b" b --shared 4 --unique 1
st_ok --store "$TMP/local" put "$TMP/b" --name b
st_ok --store "$TMP/local" push b --to "$U"
st_ok --store "$TMP/other" pull b --from "$U"
st_ok --store "$TMP/other" get b --dir "$TMP/b.got"
same_dir "$TMP/b" "$TMP/b.got"
st_ok --store "$U" --cache "$TMP/cache4" get b --dir "$TMP/b.http"
same_dir "$TMP/b" "$TMP/b.http"
# encrypted through HTTP; the server never sees plaintext digests
head -c 32 /dev/urandom >"$TMP/key"
st_ok --store "$U/enc" --cache "$TMP/cache5" --key-file "$TMP/key" put "$TMP/a" --name a
st_ok --store "$U/enc" --cache "$TMP/cache6" --key-file "$TMP/key" get a --dir "$TMP/a.enc"
same_dir "$TMP/a" "$TMP/a.enc"
for c in "$TMP"/www/store/enc/chunks/*; do
	[ -e "$TMP/www/store/chunks/${c##*/}" ] && fail "encrypted chunk under its plaintext digest"
done
head -c 32 /dev/urandom >"$TMP/wrong"
st_fails "wrong key" --store "$U/enc" --cache "$TMP/cache7" --key-file "$TMP/wrong" \
	get a --dir "$TMP/a.wrong"
[ -e "$TMP/a.wrong" ] && fail "a refused get left a directory"
pass
