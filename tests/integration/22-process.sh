#!/bin/bash
# 22-process.sh - signal handlers, pending signals, rlimits, cwd, umask,
# personality, cmdline/environ, auxv, exe, itimer and session
# (tests/programs/procstate.c) survive dump + restore.
. "$(dirname "$0")/../lib.sh"
need_prog procstate
mkdir -p "$TMP/control-work" "$TMP/work" || fail "mkdir"
control env THAW_TEST_MARK=control "$PROGS/procstate" "$TMP/control-work" one "two words" ""
need_thaw
roundtrip procstate env THAW_TEST_MARK=snapshot-42 "$PROGS/procstate" "$TMP/work" one "two words" ""
pass
