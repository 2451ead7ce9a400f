# store-lib.sh - helpers the store integration tests source after tests/lib.sh.
STORE_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

need_store_cmd() {
	need_thaw
	"$THAW" store --help >/dev/null 2>&1 || skip "this thaw has no 'store' command yet"
}

# st ARGS...: thaw store, stdout+stderr in $TMP/st.log; returns its status.
st() {
	"$THAW" store "$@" >"$TMP/st.log" 2>&1
	local rc=$?
	log "thaw store $* -> $rc"
	return $rc
}

st_ok() {
	st "$@" || fail "thaw store $* failed: $(tail -n 5 "$TMP/st.log")"
}

# st_fails REGEX ARGS...: must exit 1 with a message matching REGEX.
st_fails() {
	local re=$1 rc
	shift
	st "$@"
	rc=$?
	[ $rc = 1 ] || fail "thaw store $* exited $rc, want 1: $(tail -n 5 "$TMP/st.log")"
	grep -qE "$re" "$TMP/st.log" || fail "thaw store $*: no message matching '$re': $(tail -n 5 "$TMP/st.log")"
}

mksnap() {
	python3 "$STORE_TESTS/mksnap.py" "$@" || fail "mksnap $*"
}

# same_dir A B: byte-identical files, private modes, no temporaries beside B.
same_dir() {
	local f
	for f in "$1"/*; do
		cmp -s "$f" "$2/${f##*/}" || fail "${f##*/} differs after the round trip"
	done
	[ "$(ls "$1" | wc -l)" = "$(ls "$2" | wc -l)" ] || fail "$2 has other files than $1"
	[ "$(stat -c %a "$2")" = 700 ] || fail "$2 mode $(stat -c %a "$2")"
	for f in "$2"/*; do
		[ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f")"
	done
	compgen -G "$2.tmp*" >/dev/null && fail "temporary directory left beside $2"
	return 0
}

# A chunk file of a disk store, the largest one (so it is a data chunk).
some_chunk() {
	find "$1/chunks" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2
}

flip_byte() {
	python3 - "$1" "${2:-100}" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x40]))
PY
}

# forge_chunk FILE: flips a byte of a stored chunk's body and recomputes the
# header's crcs to match, as someone who can write the store could
forge_chunk() {
	python3 - "$1" <<'PY'
import struct, sys
T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[24 + 100] ^= 0x40
b[16:20] = struct.pack("<I", crc32c(bytes(b[24:])))
b[20:24] = struct.pack("<I", crc32c(bytes(b[:20])))
open(p, "wb").write(b)
PY
}

chunk_bytes() {
	du -sb "$1/chunks" | cut -f1
}
