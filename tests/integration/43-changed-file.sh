#!/bin/bash
# 43-changed-file.sh - a snapshot whose mapped file changed since the dump is
# refused, and the error names the file.
. "$(dirname "$0")/../lib.sh"
need_prog basic
need_thaw

head -c 65536 /dev/urandom >"$TMP/mapped.dat" || fail "make mapped.dat"
start orig "$PROGS/basic" --map "$TMP/mapped.dat"
wait_ready orig
dump_ok "$PID" "$TMP/snap"

# same size, one byte different (and a new mtime)
sleep 0.05
printf 'X' | dd of="$TMP/mapped.dat" bs=1 seek=4000 conv=notrunc status=none
restore_fails modified "$TMP/snap"
grep -q mapped.dat "$TMP/modified.err" ||
	fail "the error does not name mapped.dat: $(head -n 3 "$TMP/modified.err")"

# grown
head -c 4096 /dev/urandom >>"$TMP/mapped.dat"
restore_fails grown "$TMP/snap"
grep -q mapped.dat "$TMP/grown.err" ||
	fail "the error does not name mapped.dat: $(head -n 3 "$TMP/grown.err")"

# gone
rm -f "$TMP/mapped.dat"
restore_fails removed "$TMP/snap"
grep -q mapped.dat "$TMP/removed.err" ||
	fail "the error does not name mapped.dat: $(head -n 3 "$TMP/removed.err")"
pass
