#!/bin/bash
# 20-memory.sh - every kind of memory (tests/programs/memory.c) survives dump + restore.
. "$(dirname "$0")/../lib.sh"
need_prog memory
mkdir -p "$TMP/control-work" "$TMP/work" || fail "mkdir"
control "$PROGS/memory" "$TMP/control-work"
need_thaw
roundtrip memory "$PROGS/memory" "$TMP/work"
pass
