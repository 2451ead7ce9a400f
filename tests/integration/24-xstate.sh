#!/bin/bash
# 24-xstate.sh - AVX-512 (zmm16-31, k masks) or AVX2 registers held live by
# spinning threads come back intact after a restore (tests/programs/xstate.c).
. "$(dirname "$0")/../lib.sh"
need_prog xstate
control "$PROGS/xstate"
need_thaw
roundtrip xstate "$PROGS/xstate"
pass
