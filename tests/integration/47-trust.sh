#!/bin/bash
# 47-trust.sh - what thaw, as root, refuses to read (docs/security.md): a
# snapshot or a store that someone besides root (or the caller) owns or can
# write, at any level above it too; a FIFO or a link where a file should be
# (bounded: a hang is a failure, not a stuck suite); files of two dumps mixed
# in one directory, an index edited with its crcs recomputed; with
# --key-file, a snapshot unsigned, signed with another key, or edited.  Every
# refusal names the path and what is wrong with it and starts nothing.  thaw
# inspect reads every byte and fails on damaged pages or blobs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_prog basic
need_thaw
[ "$(id -u)" = 0 ] || skip "needs root (chown)"
id nobody >/dev/null 2>&1 || skip "no user nobody"
command -v setpriv >/dev/null || skip "no setpriv"

start orig "$PROGS/basic" --threads 2
wait_ready orig
dump_ok "$PID" "$TMP/snap"

# copy NAME: a fresh copy of the good snapshot at $TMP/NAME, printed
copy() {
	cp -a "$TMP/snap" "$TMP/$1" || fail "copy snapshot"
	echo "$TMP/$1"
}

# inspect_fails NAME DIR REGEX [ARGS...]: thaw inspect (bounded) exits 1 with a message matching REGEX
inspect_fails() {
	local name=$1 dir=$2 re=$3 rc
	shift 3
	timeout -k 5 30 "$THAW" inspect "$dir" "$@" >"$TMP/$name.inspect" 2>&1
	rc=$?
	[ $rc = 124 ] || [ $rc = 137 ] && fail "$name: thaw inspect hung"
	[ $rc = 1 ] || fail "$name: thaw inspect exited $rc, want 1: $(tail -n 3 "$TMP/$name.inspect")"
	grep -qE "$re" "$TMP/$name.inspect" ||
		fail "$name: inspect says no '$re': $(head -n 3 "$TMP/$name.inspect")"
}

# refused NAME DIR REGEX: both restore and inspect refuse DIR, naming the problem
refused() {
	local name=$1 dir=$2 re=$3
	inspect_fails "$name" "$dir" "$re"
	restore_fails "$name" "$dir"
	grep -qE "$re" "$TMP/$name.err" ||
		fail "$name: restore says no '$re': $(head -n 3 "$TMP/$name.err")"
}

# ---- owners and modes ----

d=$(copy owner-dir)
chown nobody "$d"
refused owner-dir "$d" "$d is owned by uid $(id -u nobody), not by root"

d=$(copy owner-file)
chown nobody "$d/data.img"
refused owner-file "$d" "data.img is owned by uid $(id -u nobody)"

d=$(copy mode-dir)
chmod 0777 "$d"
refused mode-dir "$d" "$d is writable by others \(mode 0777\)"

d=$(copy mode-file)
chmod 0660 "$d/manifest.json"
refused mode-file "$d" "manifest.json is writable by its group \(mode 0660\)"

# a directory above: someone else's, or open to all without the sticky bit
mkdir "$TMP/theirs"
d=$TMP/theirs/snap
cp -a "$TMP/snap" "$d"
chown nobody "$TMP/theirs"
refused owner-above "$d" "$TMP/theirs is owned by uid $(id -u nobody)"
chown root "$TMP/theirs"
chmod 0777 "$TMP/theirs"
refused mode-above "$d" "$TMP/theirs is writable by others \(mode 0777, not sticky\)"
# with the sticky bit (as /tmp), others may add names but not replace ours: trusted
chmod 1777 "$TMP/theirs"
"$THAW" inspect "$d" >"$TMP/sticky.inspect" 2>&1 ||
	fail "a snapshot below a sticky directory is refused: $(tail -n 3 "$TMP/sticky.inspect")"

# the caller's own snapshot is trusted by the caller (nobody inspects nobody's)
chmod 0755 "$TMP"
mkdir "$TMP/nobody"
cp -a "$TMP/snap" "$TMP/nobody/snap"
chown -R nobody "$TMP/nobody"
setpriv --reuid nobody --regid nogroup --clear-groups "$THAW" inspect "$TMP/nobody/snap" \
	>"$TMP/nobody.inspect" 2>&1 ||
	fail "nobody cannot inspect its own snapshot: $(tail -n 3 "$TMP/nobody.inspect")"
inspect_fails nobody-as-root "$TMP/nobody/snap" "is owned by uid $(id -u nobody)"
chmod 0700 "$TMP"

# ---- FIFOs and links where files should be ----

for f in manifest.json pages.img data.img pages.idx manifest.crc; do
	d=$(copy "fifo-$f")
	rm "$d/$f"
	mkfifo -m 0600 "$d/$f"
	refused "fifo-$f" "$d" "$f is not a regular file"
done

d=$(copy link)
mv "$d/data.img" "$TMP/data.img.elsewhere"
ln -s "$TMP/data.img.elsewhere" "$d/data.img"
refused link "$d" "data.img is a symbolic link"

# ---- stores ----

S=$TMP/store
st_ok --store "$S" put "$TMP/snap" --name good
# what goes into a store is restored by root later: an untrusted directory is not put
d=$(copy put-mode)
chmod 0666 "$d/pages.img"
st_fails "pages.img is writable by others" --store "$S" put "$d" --name bad
# a FIFO in place of a chunk file: a bad copy (discarded), never a hang
S2=$TMP/store2
st_ok --store "$S2" put "$TMP/snap" --name good
c=$(some_chunk "$S2")
rm "$c"
mkfifo -m 0600 "$c"
timeout -k 5 30 "$THAW" store --store "$S2" get good --dir "$TMP/got-fifo" >"$TMP/st.log" 2>&1
rc=$?
[ $rc = 124 ] || [ $rc = 137 ] && fail "thaw store get hung on a FIFO chunk"
[ $rc = 1 ] || fail "thaw store get with a FIFO chunk exited $rc"
grep -q "$S2/chunks: ${c#"$S2"/chunks/} is not a regular file" "$TMP/st.log" ||
	fail "store get does not name the FIFO chunk: $(head -n 3 "$TMP/st.log")"
[ -p "$c" ] && fail "the FIFO chunk was not discarded"
# a FIFO as a name: no hang
rm "$S2/names/good"
mkfifo -m 0600 "$S2/names/good"
timeout -k 5 30 "$THAW" store --store "$S2" get good --dir "$TMP/got-name" >"$TMP/st.log" 2>&1
rc=$?
[ $rc = 124 ] || [ $rc = 137 ] && fail "thaw store get hung on a FIFO name"
[ $rc = 1 ] || fail "thaw store get with a FIFO name exited $rc"
# someone else's store, or one with a chunk file anybody can write
chown nobody "$S2"
st_fails "$S2 is owned by uid $(id -u nobody)" --store "$S2" ls
chown root "$S2"
st_ok --store "$S" put "$TMP/snap" --name good
c=$(some_chunk "$S")
chmod 0666 "$c"
st_fails "is writable by others" --store "$S" get good --dir "$TMP/got-mode"
# restore from a store rebuilds its small files in THAW_RESTORE_TMPDIR: that must be trusted too
st_ok --store "$S" put "$TMP/snap" --name good
mkdir -m 0777 "$TMP/open"
chmod 0777 "$TMP/open"
THAW_RESTORE_TMPDIR=$TMP/open timeout -k 5 60 "$THAW" restore --store "$S" --name good \
	--detach --pidfile "$TMP/open.pid" </dev/null >"$TMP/open.out" 2>"$TMP/open.err"
rc=$?
[ -s "$TMP/open.pid" ] && track_restored "$(cat "$TMP/open.pid")"
[ $rc = 1 ] || fail "restore --store through an open THAW_RESTORE_TMPDIR exited $rc"
grep -q "$TMP/open is writable by others" "$TMP/open.err" ||
	fail "restore --store does not name the open directory: $(head -n 3 "$TMP/open.err")"

# ---- thaw run's store: a FIFO as a snapshot's metadata is skipped, never a hang ----
R=$TMP/runstore
mkdir -m 0700 "$R"
mkfifo -m 0600 "$R/0123456789abcdef01234567.json"
timeout -k 5 30 "$THAW" snapshots --store "$R" >"$TMP/snaps.log" 2>&1
rc=$?
[ $rc = 124 ] || [ $rc = 137 ] && fail "thaw snapshots hung on a FIFO"
grep -q "is not a regular file" "$TMP/snaps.log" ||
	fail "thaw snapshots does not name the FIFO: $(head -n 3 "$TMP/snaps.log")"

# ---- the files of a snapshot are bound together (docs/security.md) ----

# CRC-32C for the edits below, which recompute every crc as an editor would
cat >"$TMP/crc32c.py" <<'PY'
def crc32c(data):
    crc = 0xffffffff
    for x in data:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
PY

# two dumps of one process: any file of the second in the first's directory is refused
start again "$PROGS/basic" --threads 2
wait_ready again
dump_ok "$PID" "$TMP/snap1" --leave-running
dump_ok "$PID" "$TMP/snap2"
for f in pages.img data.img pages.idx; do
	d=$TMP/mixed-$f
	cp -a "$TMP/snap1" "$d"
	cp -a "$TMP/snap2/$f" "$d/$f"
	restore_fails "mixed-$f" "$d"
	grep -q "$f belongs to another snapshot" "$TMP/mixed-$f.err" ||
		fail "mixed-$f: restore does not name $f: $(head -n 3 "$TMP/mixed-$f.err")"
done
d=$TMP/mixed-manifest
cp -a "$TMP/snap1" "$d"
cp -a "$TMP/snap2/manifest.json" "$TMP/snap2/manifest.crc" "$d/"
refused mixed-manifest "$d" "belongs to another snapshot"

# pages.idx edited, its crcs recomputed: two runs of one size swap their page data
# (offset and crc), so each run's crc still matches what it reads: wrong memory
d=$(copy edited-idx)
python3 - "$d/pages.idx" "$TMP" <<'PY' || fail "editing pages.idx"
import struct, sys
sys.path.insert(0, sys.argv[2])
from crc32c import crc32c
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
H = 48
runs = {}
for i in range((len(b) - H) // 32):
    vaddr, off, npages, flags, crc = struct.unpack_from("<QQIII", b, H + 32 * i)
    if not flags & 1:
        runs.setdefault(npages, []).append(i)
pair = next(v for v in runs.values() if len(v) >= 2)
x, y = (H + 32 * i for i in pair[:2])
bx, by = bytes(b[x + 8:x + 16]), bytes(b[y + 8:y + 16])
b[x + 8:x + 16], b[y + 8:y + 16] = by, bx
cx, cy = bytes(b[x + 24:x + 28]), bytes(b[y + 24:y + 28])
b[x + 24:x + 28], b[y + 24:y + 28] = cy, cx
struct.pack_into("<I", b, 40, crc32c(bytes(b[H:])))
struct.pack_into("<I", b, 44, crc32c(bytes(b[:44])))
open(path, "wb").write(b)
PY
refused edited-idx "$d" "pages.idx: SHA-256 [0-9a-f]+ does not match the manifest's"

# a tree: a process's directory from another dump of the same tree
need_prog tree
mkdir "$TMP/work"
start tree "$PROGS/tree" "$TMP/work"
wait_ready tree
track_tree "$PID"
sleep 0.3
dump_ok "$PID" "$TMP/tree1" --leave-running
dump_ok "$PID" "$TMP/tree2"
kids=$(cd "$TMP/tree1" && echo proc-*)
[ "$kids" != "proc-*" ] || fail "the tree's snapshot has no proc-PID directories"
k=${kids%% *}
rm -rf "${TMP:?}/tree1/$k"
cp -a "$TMP/tree2/$k" "$TMP/tree1/$k"
refused mixed-tree "$TMP/tree1" "$k/manifest.json: [0-9]+ bytes, but the manifest says|$k/manifest.json: SHA-256"

# ---- thaw inspect reads every byte: damaged pages or blobs are an error ----
flip_at() {
	local f=$1 off=$2 b
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	printf "\\$(printf %03o $((b ^ 0xff)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}
d=$(copy damaged-pages)
flip_at "$d/pages.img" $(($(stat -c %s "$d/pages.img") - 100))
inspect_fails damaged-pages "$d" "pages.img: run [0-9]+ .*crc mismatch: the page data is damaged"
grep -q "integrity .*DAMAGED" "$TMP/damaged-pages.inspect" ||
	fail "damaged-pages: inspect does not say DAMAGED"
d=$(copy damaged-blob)
off=$("$THAW" inspect --no-verify --json "$d" | python3 -c '
import json, sys
print(json.load(sys.stdin)["threads"][0]["xsave"]["off"])')
flip_at "$d/data.img" $((off + 10))
inspect_fails damaged-blob "$d" "data.img: blob at offset $off .*crc mismatch"
"$THAW" inspect "$TMP/snap" >"$TMP/good.inspect" 2>&1 || fail "inspect of the good snapshot failed"
grep -q "integrity .*every byte checked" "$TMP/good.inspect" || fail "inspect does not say it checked"

# ---- --key-file: a signed snapshot, refused unsigned, signed otherwise, or edited ----
head -c 32 /dev/urandom >"$TMP/key"
head -c 32 /dev/urandom >"$TMP/key2"
chmod 600 "$TMP/key" "$TMP/key2"
start signed "$PROGS/basic" --threads 2
wait_ready signed
dump_ok "$PID" "$TMP/signed" --leave-running --key-file "$TMP/key"
[ -f "$TMP/signed/manifest.sig" ] || fail "dump --key-file wrote no manifest.sig"
"$THAW" inspect --key-file "$TMP/key" "$TMP/signed" >"$TMP/signed.inspect" 2>&1 ||
	fail "inspect with the right key failed: $(tail -n 3 "$TMP/signed.inspect")"
inspect_fails signed-wrong-key "$TMP/signed" "manifest.sig does not sign this manifest" \
	--key-file "$TMP/key2"
inspect_fails signed-unsigned "$TMP/snap" "no manifest.sig: it is not signed" --key-file "$TMP/key"
key_refused() {
	local name=$1 dir=$2 key=$3 re=$4 rc
	timeout -k 5 60 "$THAW" restore --dir "$dir" --key-file "$key" --detach \
		--pidfile "$TMP/$name.pid" </dev/null >/dev/null 2>"$TMP/$name.err"
	rc=$?
	[ -s "$TMP/$name.pid" ] && track_restored "$(cat "$TMP/$name.pid")" &&
		fail "$name: a refused restore started a process"
	[ $rc = 1 ] || fail "$name: restore --key-file exited $rc, want 1"
	grep -qE "$re" "$TMP/$name.err" || fail "$name: no '$re': $(head -n 3 "$TMP/$name.err")"
}
key_refused key-wrong "$TMP/signed" "$TMP/key2" "does not sign this manifest with this key"
key_refused key-unsigned "$TMP/snap" "$TMP/key" "not signed, and a key was given"
# an edit with every crc right, which a restore without the key would take
cp -a "$TMP/signed" "$TMP/signed-edited"
python3 - "$TMP/signed-edited" "$TMP" <<'PY' || fail "editing the manifest"
import json, sys
sys.path.insert(0, sys.argv[2])
from crc32c import crc32c
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
m["process"]["umask"] = "077"
text = json.dumps(m).encode()
open(d + "/manifest.json", "wb").write(text)
open(d + "/manifest.crc", "w").write("%08x\n" % crc32c(text))
PY
"$THAW" inspect --no-verify "$TMP/signed-edited" >/dev/null 2>&1 ||
	fail "the edited manifest does not read without a key: the test edits the wrong thing"
key_refused key-edited "$TMP/signed-edited" "$TMP/key" "does not sign this manifest"
restore_detached signed-ok "$TMP/signed" --key-file "$TMP/key"
kill -KILL "$PID"
# through a store: signed before it is put, checked after it is rebuilt
"$THAW" dump --pid "$(cat "$TMP/signed.pid")" --store "$TMP/kstore" --name k \
	--key-file "$TMP/key" >"$TMP/kdump.log" 2>&1 || fail "dump --store --key-file: $(tail -n 3 "$TMP/kdump.log")"
restore_detached_from signed-store --store "$TMP/kstore" --name k --key-file "$TMP/key"
finish signed-store "$PID"

# the good snapshot still restores: the refusals above were the damage
restore_detached good "$TMP/snap"
sleep 0.2
finish good "$PID"
pass
