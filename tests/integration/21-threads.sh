#!/bin/bash
# 21-threads.sh - threads spinning with live AVX2 registers or blocked in futex,
# read, nanosleep, epoll_wait and poll (tests/programs/threads.c) go on after a
# restore with their TIDs, masks, rseq, robust list and pending signals.
. "$(dirname "$0")/../lib.sh"
need_prog threads
control "$PROGS/threads"
need_thaw
roundtrip threads "$PROGS/threads"
pass
