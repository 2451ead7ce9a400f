#!/bin/bash
# 42-corrupt.sh - a damaged snapshot is refused with a message naming what is
# wrong; nothing is started and the snapshot is left as it was.
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_thaw

start orig "$PROGS/basic" --threads 2
wait_ready orig
dump_ok "$PID" "$TMP/snap"

# Prints the checksums of every file in a snapshot directory, with names.
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# flip FILE OFFSET: inverts one byte in place.
flip() {
	local f=$1 off=$2 b
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	[ -n "$b" ] || fail "cannot read byte $off of $f"
	printf "\\$(printf %03o $((b ^ 0xff)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

middle() { echo $(($(stat -c %s "$1") / 2)); }

# damage NAME FILE-NAMED-IN-ERROR COMMAND...: copy, damage, restore must fail.
damage() {
	local name=$1 named=$2 dir=$TMP/$1 before after
	shift 2
	cp -a "$TMP/snap" "$dir" || fail "copy snapshot"
	(cd "$dir" && "$@") || fail "$name: could not damage the copy"
	before=$(sums "$dir")
	restore_fails "$name" "$dir"
	after=$(sums "$dir")
	[ "$before" = "$after" ] || fail "$name: thaw restore changed the snapshot"
	grep -q "$named" "$TMP/$name.err" ||
		fail "$name: the error does not name $named: $(head -n 3 "$TMP/$name.err")"
}

flip_middle() { flip "$1" "$(middle "$1")"; }
truncate_half() { truncate -s "$(middle "$1")" "$1"; }
truncate_odd() { truncate -s $(($(stat -c %s "$1") - 7)) "$1"; }

[ -s "$TMP/snap/pages.img" ] || fail "pages.img is empty"
damage flip-pages pages.img flip_middle pages.img
if [ -s "$TMP/snap/data.img" ]; then
	damage flip-data data.img flip_middle data.img
else
	fail "data.img is empty for a program with 3 threads"
fi
damage flip-manifest manifest flip_middle manifest.json
damage truncate-pages pages.img truncate_half pages.img
damage truncate-idx pages.idx truncate_odd pages.idx
damage no-crc manifest.crc rm manifest.crc

# the undamaged snapshot still restores: the failures above were the damage
restore_detached good "$TMP/snap"
sleep 0.2
finish good "$PID"
pass
