#!/bin/bash
# 62-imagefs-local.sh - ImageFS on a local store: a tree with every kind of
# file and edge (tests/imagefs/mktree.py: empty, sparse and large files,
# hard links, symlinks, long names, xattrs, devices, 10,000 small files)
# pushed, mounted and compared byte for byte and stat for stat; a second
# push stores nothing; concurrent readers; writes refused; gc keeps what an
# image references and rm lets it go; a hostile index refused at mount; a
# corrupt chunk fails only the read that needs it (EIO, one line naming
# chunk and file) and the mount lives on; SIGKILL of the server leaves
# ENOTCONN, and the next mount at that point cleans it up.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../imagefs/imagefs-lib.sh"
need_fuse
S=$TMP/store

python3 "$IMAGEFS_TESTS/mktree.py" "$TMP/tree" || fail "mktree"
img_ok push "$TMP/tree" --store "$S" --name t
id=$(awk '/^image t /{print $3}' "$TMP/img.log")
[ ${#id} = 64 ] || fail "push printed no image id: $(cat "$TMP/img.log")"
before=$(find "$S/chunks" "$S/manifests" -type f | wc -l)
img_ok push "$TMP/tree" --store "$S" --name t
grep -q "^image t $id\$" "$TMP/img.log" || fail "the same tree gave another id"
after=$(find "$S/chunks" "$S/manifests" -type f | wc -l)
[ "$before" = "$after" ] || fail "a second push of the same tree stored $((after - before)) objects"
img_ok ls --store "$S"
grep -q "^t  *${id:0:16} " "$TMP/img.log" || fail "ls: $(cat "$TMP/img.log")"
img_ok inspect t --store "$S" --files
grep -q "^id  *$id" "$TMP/img.log" || fail "inspect shows no id"
grep -q " /links/rel -> one$" "$TMP/img.log" || fail "inspect --files shows no symlink"

img_mount "$TMP/m1.log" "$TMP/m1" --store "$S" --name t
python3 "$IMAGEFS_TESTS/compare.py" "$TMP/tree" "$TMP/m1" >"$TMP/compare.log" ||
	fail "the mounted image differs from the tree: $(head -n 5 "$TMP/compare.log")"
echo x 2>/dev/null >"$TMP/m1/hello" && fail "a write into the image succeeded"
touch "$TMP/m1/new" 2>/dev/null && fail "a file was created in the image"

# concurrent readers of the same files on a cold mount
img_mount "$TMP/m2.log" "$TMP/m2" --store "$S" --name t
want=$(cat "$TMP/tree/big" "$TMP/tree/many/f0000"*.py | sha256sum)
pids=()
for i in 1 2 3 4 5 6 7 8; do
	(cat "$TMP/m2/big" "$TMP/m2/many/f0000"*.py | sha256sum >"$TMP/r$i") &
	pids+=($!)
done
track "${pids[@]}"
wait "${pids[@]}"
for i in 1 2 3 4 5 6 7 8; do
	[ "$(cat "$TMP/r$i")" = "$want" ] || fail "concurrent reader $i read other bytes"
done

# gc keeps every chunk an image references
"$THAW" store gc --grace 0 --store "$S" >"$TMP/gc.log" 2>&1 || fail "gc: $(cat "$TMP/gc.log")"
[ "$(find "$S/chunks" "$S/manifests" -type f | wc -l)" = "$before" ] ||
	fail "gc removed objects of a named image: $(cat "$TMP/gc.log")"
img_mount "$TMP/m3.log" "$TMP/m3" --store "$S" --name t
read_all "$TMP/m3" "$TMP/read3.log"
grep -q error "$TMP/read3.log" && fail "after gc: $(grep error "$TMP/read3.log" | head -n 3)"

# a hostile index (a name with '/', digests all fine) is refused at mount
"$THAW" store get image:t --dir "$TMP/raw" --store "$S" >"$TMP/get.log" 2>&1 || fail "store get"
python3 - "$TMP/raw/imagefs.index" <<'PY' || fail "no name to corrupt"
import sys
p = sys.argv[1]
b = open(p, "rb").read()
assert b.count(b"f00007.py") == 1
open(p, "wb").write(b.replace(b"f00007.py", b"f0/007.py"))
PY
"$THAW" store put "$TMP/raw" --name image:bad --store "$S" >"$TMP/put.log" 2>&1 || fail "store put"
mkdir -p "$TMP/mbad"
"$THAW" image mount --store "$S" --name bad "$TMP/mbad" >"$TMP/mbad.log" 2>&1 &&
	fail "a hostile index was mounted"
grep -q "index refused: .*bad name" "$TMP/mbad.log" || fail "no reason: $(cat "$TMP/mbad.log")"
is_mounted "$TMP/mbad" && fail "a refused mount left a mount"

# a corrupt chunk: EIO for the reads that need it, one line naming it, the mount lives on
c=$(find "$S/chunks" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
cid=${c##*/}
python3 - "$c" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4000)
    b = f.read(1)
    f.seek(4000)
    f.write(bytes([b[0] ^ 0x40]))
PY
img_mount "$TMP/m4.log" "$TMP/m4" --store "$S" --name t
read_all "$TMP/m4" "$TMP/read4.log"
[ "$(grep -c error "$TMP/read4.log")" = 1 ] || fail "want one file failing: $(grep error "$TMP/read4.log" | head)"
grep -q "^big: error Input/output error" "$TMP/read4.log" || fail "$(grep error "$TMP/read4.log")"
cat "$TMP/m4/big" >/dev/null 2>&1 && fail "a second read of the bad chunk succeeded"
grep -q "chunk $cid (/big .*no tier has a good copy (in .*: crc mismatch; discarded)" "$TMP/m4.log" ||
	fail "no line names chunk $cid, /big and the bad copy: $(cat "$TMP/m4.log")"
[ "$(grep -c "$cid" "$TMP/m4.log")" = 1 ] ||
	fail "want one line for the bad chunk (the kernel reads it more than once): $(cat "$TMP/m4.log")"
[ "$(cat "$TMP/m4/hello")" = "hello, image" ] || fail "the mount died with the bad chunk"

# SIGKILL of the server: ENOTCONN; the next mount there cleans it up
kill -KILL "$SERVER_PID"
wait_gone "$SERVER_PID" || fail "the server outlived SIGKILL"
stat "$TMP/m4" 2>&1 | grep -q "not connected" || fail "a dead server's mount does not answer ENOTCONN"
img_mount "$TMP/m5.log" "$TMP/m4" --store "$S" --name t
grep -q "stale mount" "$TMP/m5.log" || fail "the stale mount was not reported"
[ "$(cat "$TMP/m4/hello")" = "hello, image" ] || fail "no image after the stale mount"
pid=$SERVER_PID
img_ok umount "$TMP/m4"
wait_gone "$pid" || fail "the server did not exit on umount"
is_mounted "$TMP/m4" && fail "umount left the mount"
umount -l "$TMP/m4" 2>/dev/null # the stale one beneath, if the kernel kept it stacked

# rm: the name goes, gc then takes the chunks
for m in m1 m2 m3; do img_ok umount "$TMP/$m"; done
img_ok rm t --store "$S"
img ls --store "$S"
grep -q "^t " "$TMP/img.log" && fail "rm left the image listed"
rm -f "$S/names/image:bad"
"$THAW" store gc --grace 0 --store "$S" >"$TMP/gc.log" 2>&1 || fail "gc: $(cat "$TMP/gc.log")"
[ "$(find "$S/chunks" -type f | wc -l)" = 0 ] || fail "gc kept chunks of a removed image"
pass
