#!/bin/bash
# 10-check.sh - `thaw check` finds every kernel feature it needs on this machine.
. "$(dirname "$0")/../lib.sh"
need_thaw
"$THAW" check >"$TMP/check.log" 2>&1
rc=$?
cat "$TMP/check.log"
[ $rc = 0 ] || fail "thaw check exited $rc"
[ -s "$TMP/check.log" ] || fail "thaw check printed nothing"
pass
