#!/bin/bash
# 59-run-fixed-layout.sh - thaw run --fixed-layout starts the program without
# address-space randomisation: two cold starts map everything (executable,
# heap, libraries, stack, vDSO) at the same addresses, so their snapshots
# share pages; without it the kernel randomises them as usual.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/run-lib.sh"
need_thaw
need_prog sdk-counter
"$THAW" run --help 2>&1 | grep -q -- --fixed-layout || skip "this thaw run has no --fixed-layout"

# maps NAME [THAW RUN ARGS...]: a cold start (no snapshot); the program's maps in $TMP/NAME.maps.
maps() {
	local name=$1
	shift
	counter_start "$name" --store "$TMP/store" --no-snapshot "$@"
	cat "/proc/$PROG/maps" >"$TMP/$name.maps" || fail "$name: no maps of $PROG"
	cat "/proc/$PROG/personality" >"$TMP/$name.personality"
	counter_stop "$name"
	grep -q '^result disabled$' "$TMP/$name.out" || fail "$name: $(cat "$TMP/$name.out")"
}

maps fixed1 --fixed-layout
maps fixed2 --fixed-layout
[ "$(cat "$TMP/fixed1.personality")" = 00040000 ] ||
	fail "personality with --fixed-layout: $(cat "$TMP/fixed1.personality")"
grep -q '\[heap\]' "$TMP/fixed1.maps" && grep -q '\[stack\]' "$TMP/fixed1.maps" ||
	fail "unexpected maps: $(cat "$TMP/fixed1.maps")"
diff "$TMP/fixed1.maps" "$TMP/fixed2.maps" >"$TMP/fixed.diff" ||
	fail "two --fixed-layout starts differ: $(cat "$TMP/fixed.diff")"

maps random1
maps random2
[ "$(cat "$TMP/random1.personality")" = 00000000 ] ||
	fail "personality without --fixed-layout: $(cat "$TMP/random1.personality")"
if [ "$(cat /proc/sys/kernel/randomize_va_space)" != 0 ]; then
	cmp -s "$TMP/random1.maps" "$TMP/random2.maps" &&
		fail "two randomised starts have the same layout"
fi
pass
