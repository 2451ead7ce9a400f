#!/bin/bash
# run.sh NAME - one compatibility test: tests/compat/NAME.c, built into
# $BUILD/tests/compat/NAME (tests/compat/compat.h says how such a program
# behaves).  Its first line says what thaw must do:
#   /* compat: restore */        dump, restore, and the program's check passes
#   /* compat: refuse REGEX */   dump exits 1 with a message matching REGEX, and
#                                the program runs on unharmed (its check passes)
# COMPAT_RESTORE_ARGS adds arguments to thaw restore.
. "$(dirname "$0")/../lib.sh"
NAME=${1:?usage: run.sh NAME}
SRC=$(dirname "$0")/$NAME.c
need_thaw
PROG=$BUILD/tests/compat/$NAME
[ -x "$PROG" ] || fail "compat program $PROG is missing (run make programs)"

line=$(head -n 1 "$SRC")
case $line in
'/* compat: restore */') want=restore ;;
'/* compat: refuse '*' */')
	want=refuse
	regex=${line#'/* compat: refuse '}
	regex=${regex%' */'}
	;;
*) fail "$SRC: first line must be /* compat: restore */ or /* compat: refuse REGEX */" ;;
esac

start "$NAME" "$PROG"
wait_line "$NAME" '^(READY|BROKEN|SKIP)'
grep -q '^BROKEN' "$TMP/$NAME.out" && fail "$NAME: $(grep '^BROKEN' "$TMP/$NAME.out")"
grep -q '^SKIP' "$TMP/$NAME.out" && skip "$NAME: $(grep -m1 '^SKIP' "$TMP/$NAME.out" | cut -c7-)"
# a program that went on in a child its setup forked names it (compat.h): that is the one
root=$(sed -n 's/^ROOT \([0-9][0-9]*\)$/\1/p' "$TMP/$NAME.out" | head -n 1)
if [ -n "$root" ]; then
	track "$root"
	PID=$root
fi
sleep 0.2 # let its threads reach their blocking calls
snap=$TMP/$NAME.snap
if [ $want = refuse ]; then
	if dump "$PID" "$snap"; then
		fail "$NAME: thaw dump succeeded; it must refuse ($regex)"
	fi
	grep -qE "$regex" "$TMP/dump.log" ||
		fail "$NAME: thaw dump refused without a message matching '$regex': $(tail -n 3 "$TMP/dump.log")"
	[ -e "$snap" ] && fail "$NAME: a refused dump left $snap"
	alive "$PID" || fail "$NAME: the refused dump killed the program"
	log "$NAME: refused: $(grep -E "$regex" "$TMP/dump.log" | head -n 1)"
	finish "$NAME" "$PID"
	pass
fi
dump_ok "$PID" "$snap"
check_snapshot "$snap"
# shellcheck disable=SC2086 # COMPAT_RESTORE_ARGS is a list of words
restore_detached "$NAME-restored" "$snap" ${COMPAT_RESTORE_ARGS:-}
finish "$NAME-restored" "$PID"
pass
