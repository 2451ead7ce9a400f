#!/bin/bash
# 58-run-digest.sh - thaw run's content digests (THAW_VERIFY_DIGEST=1, the
# CLI's --verify-digest): a file the snapshot maps, rewritten in place and
# touched back to its old mtime, keeps its size, mtime and inode, so a plain
# start restores; with the option it is a cold start that names the file,
# and the new snapshot trusts the new contents.  A snapshot taken without the
# option has no digests: a start with the option is cold and says so.
. "$(dirname "$0")/../lib.sh"
need_thaw
PY=/usr/bin/python3
[ -x $PY ] || skip "no $PY"
STORE=$TMP/store
DATA=$TMP/data.bin

cat >"$TMP/mapper.py" <<'PY'
import mmap, sys, thaw
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
seen = bytes(m[:4])
print("result", thaw.snapshot(), seen.decode(), flush=True)
PY

# go NAME [ENV=VALUE...]: one start to its end; its stdout and stderr in $TMP/NAME.{out,err}
go() {
	local name=$1
	shift
	env "$@" "$THAW" run ${RUN_FLAGS:-} --store "${RUNSTORE:-$STORE}" -- $PY "$TMP/mapper.py" "$DATA" \
		</dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
	[ $? = 0 ] || fail "$name: thaw run failed: $(cat "$TMP/$name.err")"
}
want() { # NAME RESULT PATTERN-ON-STDERR
	grep -q "^result $2 " "$TMP/$1.out" || fail "$1: want $2: $(cat "$TMP/$1.out" "$TMP/$1.err")"
	grep -q -- "$3" "$TMP/$1.err" || fail "$1: no '$3' in: $(cat "$TMP/$1.err")"
}

head -c 65536 /dev/zero | tr '\0' A >"$DATA"
go cold THAW_VERIFY_DIGEST=1
want cold snapshotted 'snapshot created'
ls "$STORE"/*/digests.json >/dev/null 2>&1 || fail "no digests.json in the snapshot"
grep -q "\"path\": \"$DATA\"" "$STORE"/*/digests.json || fail "the mapped file has no digest"
go warm THAW_VERIFY_DIGEST=1
want warm restored 'restored mapper from snapshot'

# same size, mtime and inode; different contents
ino=$(stat -c %i "$DATA")
stamp=$(stat -c %y "$DATA")
printf BBBB | dd of="$DATA" bs=1 seek=100 conv=notrunc status=none
touch -d "$stamp" "$DATA"
[ "$(stat -c %i.%s.%y "$DATA")" = "$ino.65536.$stamp" ] || fail "the file's identity moved"

go plain
want plain restored 'restored mapper from snapshot'
go changed THAW_VERIFY_DIGEST=1
want changed snapshotted "cold start: $DATA changed (content digest)"
go again THAW_VERIFY_DIGEST=1
want again restored 'restored mapper from snapshot'
THAW_VERIFY_DIGEST=0 go zero
want zero restored 'restored mapper from snapshot'

# a snapshot without digests: cold with the reason, then one with them
RUNSTORE=$TMP/store2 go nodig
want nodig snapshotted 'snapshot created'
RUNSTORE=$TMP/store2 go nodig2 THAW_VERIFY_DIGEST=1
want nodig2 snapshotted 'cold start: the snapshot has no content digests'
RUN_FLAGS=--verify-digest # a shell variable, not in CMD's environment (the key)
RUNSTORE=$TMP/store2 go nodig3
RUN_FLAGS=
want nodig3 restored 'restored mapper from snapshot'
pass
