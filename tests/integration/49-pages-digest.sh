#!/bin/bash
# 49-pages-digest.sh - pages.img's digest in parts is the SHA-256 of its 4 MiB
# segments' SHA-256s (docs/image-format.md), as an independent reader computes
# it; the dump's threads and thaw inspect's agree with it; a flipped byte in
# the last segment is caught; and the snapshot restores.
. "$(dirname "$0")/../lib.sh"
need_thaw

# 22 MiB of random bytes: pages.img spans six segments, the last one partial
start_holding big 22
wait_ready big
dump_ok "$PID" "$TMP/snap"

/usr/bin/python3 - "$TMP/snap" >"$TMP/oracle.log" 2>&1 <<'PY' || fail "digest oracle: $(tail -n 3 "$TMP/oracle.log")"
import hashlib, json, os, sys

snap = sys.argv[1]
parts = {f["name"]: f for f in json.load(open(os.path.join(snap, "manifest.json")))["parts"]["files"]}
seg = 4 << 20
size = os.path.getsize(os.path.join(snap, "pages.img"))
if size <= 4 * seg:
    sys.exit("pages.img is only %d bytes: the test wants more than four segments" % size)
top = hashlib.sha256()
with open(os.path.join(snap, "pages.img"), "rb") as f:
    while True:
        b = f.read(seg)
        if not b:
            break
        top.update(hashlib.sha256(b).digest())
want = parts["pages.img"]["sha256"]
if top.hexdigest() != want or parts["pages.img"]["size"] != size:
    sys.exit("pages.img: segments give %s (%d bytes), parts says %s (%d)"
             % (top.hexdigest(), size, want, parts["pages.img"]["size"]))
with open(os.path.join(snap, "data.img"), "rb") as f:
    if hashlib.sha256(f.read()).hexdigest() != parts["data.img"]["sha256"]:
        sys.exit("data.img: its SHA-256 is not the one in parts")
print("ok", size)
PY
"$THAW" inspect "$TMP/snap" >"$TMP/inspect.out" 2>&1 ||
	fail "thaw inspect of a good snapshot failed: $(tail -n 3 "$TMP/inspect.out")"

cp -a "$TMP/snap" "$TMP/bad"
/usr/bin/python3 - "$TMP/bad/pages.img" <<'PY' || fail "could not damage the copy"
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(os.path.getsize(sys.argv[1]) - 100)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x40]))
PY
if "$THAW" inspect "$TMP/bad" >"$TMP/inspect-bad.out" 2>&1; then
	fail "thaw inspect passed a pages.img with a flipped byte"
fi
grep -q "pages.img" "$TMP/inspect-bad.out" || fail "the error does not name pages.img: $(cat "$TMP/inspect-bad.out")"

restore_detached big "$TMP/snap"
pass
