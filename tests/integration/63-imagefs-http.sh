#!/bin/bash
# 63-imagefs-http.sh - ImageFS over HTTP (Debian's nginx as the store, a
# cold local cache per mount): the tree read back through the tiers; eight
# concurrent readers of one file fetch each chunk once; an encrypted image;
# a corrupt chunk on the server fails its file with EIO and a line naming
# chunk and file, and the mount lives on; a stopped server (requests
# accepted, never answered) and a dead one give EIO within the bounds while
# cached files are still served; a recorded start is prefetched by the next
# mount before anything reads it, and a prefetch whose server dies stops
# (one line); thaw run --image puts the configuration
# files' cache in front of the server.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/nginx.sh"
. "$(dirname "$0")/../imagefs/imagefs-lib.sh"
need_fuse
nginx_start
U=$NGINX_URL
ACCESS=$TMP/nginx/access.log

python3 - "$TMP/tree" <<'PY' || fail "tree"
import os, random, sys
r = random.Random(63)
root = sys.argv[1]
os.makedirs(os.path.join(root, "lib"))
for name, size in (("big", 6 << 20), ("other", 3 << 20), ("third", 2 << 20)):
    with open(os.path.join(root, name), "wb") as f:
        f.write(r.randbytes(size))
for i in range(300):
    with open(os.path.join(root, "lib", "m%03d.py" % i), "wb") as f:
        f.write(r.randbytes(100 + i * 37))
with open(os.path.join(root, "hello"), "w") as f:
    f.write("hello over http\n")
os.symlink("lib/m001.py", os.path.join(root, "link"))
PY
img_ok push "$TMP/tree" --store "$U" --cache "$TMP/c0" --name h

# cold cache: the tree comes back through nginx; 8 readers of one file fetch each chunk once
: >"$ACCESS"
img_mount "$TMP/m1.log" "$TMP/m1" --store "$U" --cache "$TMP/c1" --name h
pids=()
for i in 1 2 3 4 5 6 7 8; do
	(sha256sum <"$TMP/m1/big" >"$TMP/r$i") &
	pids+=($!)
done
track "${pids[@]}"
wait "${pids[@]}"
want=$(sha256sum <"$TMP/tree/big")
for i in 1 2 3 4 5 6 7 8; do
	[ "$(cat "$TMP/r$i")" = "$want" ] || fail "concurrent reader $i read other bytes"
done
gets=$(grep -c '"GET /store/chunks/' "$ACCESS")
dups=$(grep '"GET /store/chunks/' "$ACCESS" | awk '{print $7}' | sort | uniq -d | wc -l)
[ "$gets" -gt 1 ] || fail "no chunk came from the server ($gets GETs)"
[ "$dups" = 0 ] || fail "$dups chunks were fetched more than once by concurrent readers"
python3 "$IMAGEFS_TESTS/compare.py" "$TMP/tree" "$TMP/m1" >"$TMP/compare.log" ||
	fail "the image read over HTTP differs: $(head -n 5 "$TMP/compare.log")"

# encrypted: the server never sees a plaintext digest, and a key is needed to mount
head -c 32 /dev/urandom >"$TMP/key"
img_ok push "$TMP/tree" --store "$U/enc" --cache "$TMP/c2" --key-file "$TMP/key" --name h
for c in "$TMP"/www/store/enc/chunks/*; do
	[ -e "$TMP/www/store/chunks/${c##*/}" ] && fail "encrypted chunk under its plaintext digest"
done
img_mount "$TMP/m2.log" "$TMP/m2" --store "$U/enc" --cache "$TMP/c3" --key-file "$TMP/key" --name h
python3 "$IMAGEFS_TESTS/compare.py" "$TMP/tree" "$TMP/m2" >"$TMP/compare.log" ||
	fail "the encrypted image differs: $(head -n 5 "$TMP/compare.log")"
mkdir -p "$TMP/mk"
"$THAW" image mount --store "$U/enc" --cache "$TMP/c4" --name h "$TMP/mk" >"$TMP/mk.log" 2>&1 &&
	fail "an encrypted image was mounted without its key"
grep -q "key" "$TMP/mk.log" || fail "no word of the key: $(cat "$TMP/mk.log")"

# a corrupt chunk on the server, cold cache: EIO and a line naming it; the rest is served
c=$(ls -S "$TMP/www/store/chunks" | head -n 1)
flip() {
	python3 - "$TMP/www/store/chunks/$c" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(3000)
    b = f.read(1)
    f.seek(3000)
    f.write(bytes([b[0] ^ 0x40]))
PY
}
flip
img_mount "$TMP/m3.log" "$TMP/m3" --store "$U" --cache "$TMP/c5" --name h
read_all "$TMP/m3" "$TMP/read3.log"
[ "$(grep -c error "$TMP/read3.log")" = 1 ] ||
	fail "want one file failing: $(grep error "$TMP/read3.log" | head -n 3)"
bad=$(sed -n 's/: error Input\/output error$//p' "$TMP/read3.log")
[ -n "$bad" ] || fail "the failing read was not EIO: $(grep error "$TMP/read3.log")"
cat "$TMP/m3/$bad" >/dev/null 2>&1 && fail "a second read of the bad chunk succeeded"
grep -q "chunk $c (/$bad .*no tier has a good copy (in .*; discarded)" "$TMP/m3.log" ||
	fail "no line names chunk $c, /$bad and the bad copy: $(tail -n 5 "$TMP/m3.log")"
[ "$(grep -c "$c" "$TMP/m3.log")" = 1 ] ||
	fail "want one line for the bad chunk: $(grep "$c" "$TMP/m3.log")"
[ "$(cat "$TMP/m3/hello")" = "hello over http" ] || fail "the mount died with the bad chunk"
flip # the server has its good copy again

# thaw run --image over HTTP: the cache in front of the server is the configuration files'
mkdir -p "$TMP/runmnt" "$TMP/snaps"
echo "cache = $(realpath "$TMP")/crun" >"$TMP/config"
THAW_CONFIG_SYSTEM=$TMP/config "$THAW" run --store "$TMP/snaps" --no-snapshot --image-keep 0 \
	--image "h:$TMP/runmnt" --image-store "$U" -- /bin/cat "$TMP/runmnt/hello" \
	>"$TMP/run.out" 2>"$TMP/run.err" </dev/null || fail "run --image: $(cat "$TMP/run.err")"
[ "$(cat "$TMP/run.out")" = "hello over http" ] || fail "run --image read: $(cat "$TMP/run.out")"
[ -n "$(find "$TMP/crun/chunks" -type f 2>/dev/null)" ] || fail "run --image cached nothing in the configured cache"

# a stopped server: requests are accepted and never answered; reads end in EIO, in bounds
img_mount "$TMP/m4.log" "$TMP/m4" --store "$U" --cache "$TMP/c6" --name h \
	--timeout-ms 1000 --retries 1 --fetch-timeout-ms 1500
cat "$TMP/m4/hello" >/dev/null || fail "hello before the server stopped"
kill -STOP "$NGINX_PID"
timeout 60 cat "$TMP/m4/other" >/dev/null 2>"$TMP/stop1.err" &
r1=$!
timeout 60 cat "$TMP/m4/other" >/dev/null 2>"$TMP/stop2.err" &
r2=$!
track $r1 $r2
wait $r1
rc1=$?
wait $r2
rc2=$?
[ $rc1 = 1 ] && [ $rc2 = 1 ] || fail "reads from a stopped server: exit $rc1 and $rc2, want 1 (EIO)"
grep -q "Input/output error" "$TMP/stop1.err" || fail "not EIO: $(cat "$TMP/stop1.err")"
[ "$(cat "$TMP/m4/hello")" = "hello over http" ] || fail "a cached file failed while the server stopped"
kill -CONT "$NGINX_PID"
cmp -s "$TMP/m4/other" "$TMP/tree/other" || fail "the failure stuck after the server came back"

# record the start of a reader; the next mount prefetches it before any read
mkdir -p "$TMP/m5"
MOUNTS+=("$TMP/m5")
img_ok record --store "$U" --cache "$TMP/c7" --name h "$TMP/m5" -- \
	sh -c "cat $TMP/m5/third $TMP/m5/lib/m010.py >/dev/null"
grep -q "recorded [1-9][0-9]* chunks" "$TMP/img.log" || fail "record: $(cat "$TMP/img.log")"
img_ok inspect h --store "$U" --cache "$TMP/c7"
grep -q "^prefetch  *[1-9]" "$TMP/img.log" || fail "the recorded start was not kept"
# (c7 holds the index's chunks and the recorded ones: c8 must come to hold as many)
want=$(find "$TMP/c7/chunks" -type f | wc -l)
img_mount "$TMP/m6.log" "$TMP/m6" --store "$U" --cache "$TMP/c8" --name h \
	--timeout-ms 1000 --retries 0
for i in $(seq 1 100); do
	[ "$(find "$TMP/c8/chunks" -type f 2>/dev/null | wc -l)" -ge "$want" ] && break
	sleep 0.1
done
: >"$ACCESS"
kill -STOP "$NGINX_PID"
cmp -s "$TMP/m6/third" "$TMP/tree/third" || fail "the prefetched file is not there with the server stopped"
kill -CONT "$NGINX_PID"

# a server that dies while the recorded start is prefetched: the prefetch
# stops, saying so once, rather than ask a dead server for every chunk
mkdir -p "$TMP/seed/chunks/x"
cp "$TMP"/www/store/chunks/* "$TMP/seed/chunks/x/"
cp -r "$TMP/www/store/manifests" "$TMP/www/store/names" "$TMP/seed/"
python3 "$(dirname "$0")/../store/fault-httpd.py" "$TMP/fh.port" --seed "$TMP/seed" --die-after 3 \
	>"$TMP/fh.log" 2>&1 &
FH_PID=$!
track $FH_PID
for i in $(seq 1 200); do [ -s "$TMP/fh.port" ] && break; sleep 0.05; done
img_mount "$TMP/m8.log" "$TMP/m8" --store "http://127.0.0.1:$(cat "$TMP/fh.port")/store" \
	--cache "$TMP/c10" --name h --retries 1
wait_gone $FH_PID || fail "the fault server did not die"
for i in $(seq 1 100); do grep -q "prefetch stopped" "$TMP/m8.log" && break; sleep 0.1; done
[ "$(grep -c "prefetch stopped" "$TMP/m8.log")" = 1 ] ||
	fail "want one line saying the prefetch stopped: $(tail -n 5 "$TMP/m8.log")"
[ "$(grep -c "no tier has a good copy" "$TMP/m8.log")" -le 8 ] ||
	fail "the prefetch went on asking a dead server: $(grep -c "no tier" "$TMP/m8.log") failures"

# a dead server: uncached reads fail with EIO after the retries, cached ones are served
img_mount "$TMP/m7.log" "$TMP/m7" --store "$U" --cache "$TMP/c9" --name h --retries 1
cat "$TMP/m7/hello" "$TMP/m7/lib/m005.py" >/dev/null || fail "reads before the server died"
kill -KILL "$NGINX_PID"
wait_gone "$NGINX_PID"
timeout 60 cat "$TMP/m7/big" >/dev/null 2>"$TMP/dead.err" && fail "a read with the server dead succeeded"
grep -q "Input/output error" "$TMP/dead.err" || fail "not EIO: $(cat "$TMP/dead.err")"
python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
" "$TMP/m7/lib/m005.py"
cmp -s "$TMP/m7/lib/m005.py" "$TMP/tree/lib/m005.py" || fail "a cached file failed with the server dead"
for m in m1 m2 m3 m4 m6 m7 m8; do img_ok umount "$TMP/$m"; done
pass
