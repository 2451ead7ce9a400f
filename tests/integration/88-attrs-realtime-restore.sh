#!/bin/bash
# 88-attrs-realtime-restore.sh - a thaw restore that itself runs under a
# realtime policy (chrt) gives each thread its own policy and timer slack,
# not its own: a realtime thread cannot set its slack, so the restorer's
# threads must not inherit thaw's policy.
. "$(dirname "$0")/../lib.sh"
need_thaw
command -v chrt >/dev/null || skip "no chrt"
chrt -f 5 true 2>/dev/null || skip "cannot run under SCHED_FIFO here"
for p in timerslack sched; do
	[ -x "$BUILD/tests/compat/$p" ] || fail "$BUILD/tests/compat/$p is missing (run make programs)"
done
THAW_REAL=$THAW
THAW=$TMP/thaw-fifo
printf '#!/bin/sh\nexec chrt -f 5 %s "$@"\n' "$THAW_REAL" >"$THAW"
chmod +x "$THAW"

for p in timerslack sched; do
	start "$p" "$BUILD/tests/compat/$p"
	wait_ready "$p"
	dump_ok "$PID" "$TMP/$p.snap"
	restore_detached "$p-restored" "$TMP/$p.snap"
	finish "$p-restored" "$PID"
done
pass
