#!/bin/bash
# 45-restore-foreground.sh - thaw restore in the foreground exits with the
# program's status, and forwards SIGTERM and SIGHUP (128+signal).
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_thaw

start orig "$PROGS/basic" --exit 3
wait_ready orig
dump_ok "$PID" "$TMP/snap"

restore_fg exit3 "$TMP/snap"
sleep 0.3
kill -USR1 "$PID" || fail "restored program is gone"
wait_status "$THAW_PID"
check_output exit3
[ "$STATUS" = 3 ] || fail "thaw restore exited $STATUS, the program exited 3"

restore_fg term "$TMP/snap"
sleep 0.3
kill -TERM "$THAW_PID"
wait_status "$THAW_PID"
[ "$STATUS" = 143 ] || fail "after SIGTERM thaw restore exited $STATUS, want 143"
wait_gone "$PID" 5 || fail "the program survived SIGTERM sent to thaw restore"

restore_fg hup "$TMP/snap"
sleep 0.3
kill -HUP "$THAW_PID"
wait_status "$THAW_PID"
[ "$STATUS" = 129 ] || fail "after SIGHUP thaw restore exited $STATUS, want 129"
wait_gone "$PID" 5 || fail "the program survived SIGHUP sent to thaw restore"
pass
