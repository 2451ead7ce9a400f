#!/bin/bash
# 59-run-fixed-layout.sh - thaw run --fixed-layout starts the program without
# address-space randomisation: two cold starts map everything (executable,
# heap, libraries, stack, vDSO) at the same addresses, so their snapshots
# share pages; without it the kernel randomises them as usual.  It also gives
# the program a Python hash seed of its launch key (the same on every start)
# unless the caller set PYTHONHASHSEED.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/run-lib.sh"
need_thaw
need_prog sdk-counter
unset PYTHONHASHSEED
"$THAW" run --help 2>&1 | grep -q -- --fixed-layout || skip "this thaw run has no --fixed-layout"

# maps NAME [THAW RUN ARGS...]: a cold start (no snapshot); the program's maps in $TMP/NAME.maps.
maps() {
	local name=$1
	shift
	counter_start "$name" --store "$TMP/store" --no-snapshot "$@"
	cat "/proc/$PROG/maps" >"$TMP/$name.maps" || fail "$name: no maps of $PROG"
	cat "/proc/$PROG/personality" >"$TMP/$name.personality"
	tr '\0' '\n' <"/proc/$PROG/environ" | grep '^PYTHONHASHSEED=' >"$TMP/$name.seed"
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
grep -qE '^PYTHONHASHSEED=[0-9]+$' "$TMP/fixed1.seed" || fail "no hash seed with --fixed-layout"
cmp -s "$TMP/fixed1.seed" "$TMP/fixed2.seed" ||
	fail "hash seeds differ: $(cat "$TMP/fixed1.seed" "$TMP/fixed2.seed")"
PYTHONHASHSEED=123 maps fixed3 --fixed-layout
[ "$(cat "$TMP/fixed3.seed")" = PYTHONHASHSEED=123 ] ||
	fail "the caller's PYTHONHASHSEED was not kept: $(cat "$TMP/fixed3.seed")"

maps random1
maps random2
[ -s "$TMP/random1.seed" ] && fail "a hash seed without --fixed-layout: $(cat "$TMP/random1.seed")"
[ "$(cat "$TMP/random1.personality")" = 00000000 ] ||
	fail "personality without --fixed-layout: $(cat "$TMP/random1.personality")"
if [ "$(cat /proc/sys/kernel/randomize_va_space)" != 0 ]; then
	cmp -s "$TMP/random1.maps" "$TMP/random2.maps" &&
		fail "two randomised starts have the same layout"
fi
pass
