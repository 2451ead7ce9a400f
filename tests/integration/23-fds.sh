#!/bin/bash
# 23-fds.sh - every supported kind of file descriptor (tests/programs/fds.c)
# comes back at its number with its flags, offset and contents.
. "$(dirname "$0")/../lib.sh"
need_prog fds
mkdir -p "$TMP/control-work" "$TMP/work" || fail "mkdir"
control "$PROGS/fds" "$TMP/control-work"
need_thaw
roundtrip fds "$PROGS/fds" "$TMP/work"
# the O_APPEND file got the line written after restore, at its end
[ "$(grep -c '^append line$' "$TMP/work/append.log")" = 6 ] ||
	fail "append.log does not hold 6 lines after restore"
pass
