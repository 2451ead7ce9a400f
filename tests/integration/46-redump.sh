#!/bin/bash
# 46-redump.sh - a restored multi-threaded program can be dumped and restored
# again (restore -> dump -> restore) and still passes its checks.
. "$(dirname "$0")/../lib.sh"
need_prog threads
need_thaw

start orig "$PROGS/threads"
wait_ready orig
sleep 0.3
dump_ok "$PID" "$TMP/snap1"
restore_detached first "$TMP/snap1"
sleep 0.5
dump_ok "$PID" "$TMP/snap2"
check_snapshot "$TMP/snap2"
restore_detached second "$TMP/snap2"
sleep 0.3
finish second "$PID"
pass
