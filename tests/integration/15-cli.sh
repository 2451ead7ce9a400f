#!/bin/bash
# 15-cli.sh - the conventions of the thaw command (src/cli/cli.c): --version,
# exit statuses 0/1/2 of every command, thaw run passing CMD's status through,
# "thaw COMMAND: error: ..." naming the thing at fault, -q, and colour only on
# a terminal (script(1) gives thaw one) and never with NO_COLOR; the common
# mistakes (a store that is not there, a bad URL, a name not in the store, a bad
# option value, a missing directory) each said in one line naming what was given.
. "$(dirname "$0")/../lib.sh"
need_thaw
need_prog basic

# expect STATUS CMD...: runs CMD, stdout in $TMP/out, stderr in $TMP/err
expect() {
	local want=$1 rc
	shift
	"$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	rc=$?
	[ $rc = "$want" ] || fail "$* exited $rc, want $want: $(head -c 600 "$TMP/err")"
}

# --version: the release and git describe, the snapshot format, the features
expect 0 "$THAW" --version
grep -qE '^thaw [0-9]+\.[0-9]+\.[0-9]+ \(.+\)$' "$TMP/out" || fail "--version: $(cat "$TMP/out")"
grep -qE '^snapshot format [0-9]+$' "$TMP/out" || fail "--version: no snapshot format"
grep -q '^features: .*zstd' "$TMP/out" || fail "--version: no features"

# no command: usage on stderr, 2; --help: on stdout, 0
expect 2 "$THAW"
grep -q '^usage: thaw' "$TMP/err" || fail "thaw alone printed no usage"
[ ! -s "$TMP/out" ] || fail "thaw alone wrote to stdout"
expect 0 "$THAW" --help
grep -q '^Exit status:' "$TMP/out" || fail "thaw --help says nothing of exit statuses"
expect 2 "$THAW" --no-such-option
grep -q '^thaw: error: unknown option --no-such-option' "$TMP/err" || fail "$(cat "$TMP/err")"
expect 2 "$THAW" frobnicate
grep -q "^thaw: error: unknown command 'frobnicate'" "$TMP/err" || fail "$(cat "$TMP/err")"

# every command: --help is 0 on stdout and documents its exit statuses; a
# usage error is 2 with "thaw CMD: error:" and the usage lines on stderr
for cmd in $("$THAW" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }'); do
	expect 0 "$THAW" "$cmd" --help
	grep -q '^Exit status:' "$TMP/out" || fail "thaw $cmd --help has no Exit status"
	expect 2 "$THAW" "$cmd" --no-such-option
	grep -q "^thaw $cmd: error: " "$TMP/err" || fail "thaw $cmd: $(cat "$TMP/err")"
	grep -q "^usage: thaw $cmd" "$TMP/err" || fail "thaw $cmd: no usage: $(cat "$TMP/err")"
	n=$((${n:-0} + 1))
done
[ "${n:-0}" -ge 7 ] || fail "thaw --help lists only ${n:-0} commands"
expect 2 "$THAW" dump --pid 12x --dir "$TMP/x"
grep -q "^thaw dump: error: --pid: not a process id: 12x" "$TMP/err" || fail "$(cat "$TMP/err")"
expect 2 "$THAW" dump --pid 1
grep -q "^thaw dump: error: where to?" "$TMP/err" || fail "$(cat "$TMP/err")"

# failures are 1, named as the user wrote them
pid=999999
while kill -0 $pid 2>/dev/null; do pid=$((pid - 1)); done
expect 1 "$THAW" dump --pid $pid --dir "$TMP/none"
[ "$(cat "$TMP/err")" = "thaw dump: error: no such process $pid" ] ||
	fail "dump of a missing pid said: $(cat "$TMP/err")"
[ ! -e "$TMP/none" ] || fail "a failed dump left $TMP/none"
expect 1 "$THAW" restore --dir "$TMP/none"
grep -q "^thaw restore: error: snapshot $TMP/none: no such directory" "$TMP/err" ||
	fail "$(cat "$TMP/err")"
expect 1 "$THAW" inspect "$TMP/none"
grep -q "^thaw inspect: error: snapshot $TMP/none: no such directory" "$TMP/err" ||
	fail "$(cat "$TMP/err")"
# a snapshot directory that is not one: a file, an empty directory
: >"$TMP/afile"
mkdir -m 0700 "$TMP/empty"
for c in restore inspect; do
	[ $c = restore ] && a=--dir || a=
	expect 1 "$THAW" $c $a "$TMP/afile"
	[ "$(cat "$TMP/err")" = "thaw $c: error: $TMP/afile is not a snapshot (not a directory)" ] ||
		fail "thaw $c of a file: $(cat "$TMP/err")"
	expect 1 "$THAW" $c $a "$TMP/empty"
	[ "$(cat "$TMP/err")" = "thaw $c: error: no manifest.json: $TMP/empty is not a snapshot" ] ||
		fail "thaw $c of an empty directory: $(cat "$TMP/err")"
done

# the common mistakes, each one line naming what the user gave: a store that is
# not there (not made by a command that only reads it), a URL thaw cannot use,
# a name not in the store, a bad name, a bad option value
st=$TMP/st
for c in ls du gc "verify" "get x --dir $TMP/got"; do
	expect 1 "$THAW" store --store "$st" $c
	[ "$(cat "$TMP/err")" = "thaw store: error: no such store $st" ] || fail "store $c: $(cat "$TMP/err")"
done
[ ! -e "$st" ] || fail "thaw store ls made the store it was told to read"
expect 1 "$THAW" restore --store "$st" --name x
[ "$(cat "$TMP/err")" = "thaw restore: error: no such store $st" ] || fail "$(cat "$TMP/err")"
expect 1 "$THAW" image ls --store "$st"
[ "$(cat "$TMP/err")" = "thaw image: error: no such store $st" ] || fail "$(cat "$TMP/err")"
expect 1 "$THAW" store --store "$st" pull x --from "$TMP/nowhere"
[ "$(cat "$TMP/err")" = "thaw store: error: no such store $TMP/nowhere" ] || fail "$(cat "$TMP/err")"
for c in "store --store ftp://h/x ls" "run --store ftp://h/x -- true"; do
	expect 1 "$THAW" $c
	[ "$(cat "$TMP/err")" = "thaw ${c%% *}: error: store ftp://h/x: not a directory, nor an http://, https:// or s3:// URL" ] ||
		fail "thaw $c: $(cat "$TMP/err")"
done
: >"$TMP/file" # a store that is a file; 4194305 is above any pid_max: no process
for c in "run --store $TMP/file -- true" "dump --pid 4194305 --store $TMP/file --name x"; do
	expect 1 "$THAW" $c
	[ "$(cat "$TMP/err")" = "thaw ${c%% *}: error: store $TMP/file: not a directory" ] ||
		fail "thaw $c: $(cat "$TMP/err")"
done
expect 2 "$THAW" run --snap-on-port 1 --snap-timeout soon -- true
grep -q "^thaw run: error: --snap-timeout: not a number of seconds: soon" "$TMP/err" || fail "$(cat "$TMP/err")"
mkdir -p "$TMP/tree" && echo a >"$TMP/tree/f"
expect 0 "$THAW" store --store "$st" put "$TMP/tree" --name a
for c in "store --store $st get nosuch --dir $TMP/got" "store --store $st verify nosuch" \
	"restore --store $st --name nosuch"; do
	expect 1 "$THAW" $c
	[ "$(cat "$TMP/err")" = "thaw ${c%% *}: error: no snapshot nosuch in store $st" ] ||
		fail "thaw $c: $(cat "$TMP/err")"
done
expect 1 "$THAW" image inspect nosuch --store "$st"
[ "$(cat "$TMP/err")" = "thaw image: error: no image nosuch in store $st" ] || fail "$(cat "$TMP/err")"
expect 2 "$THAW" restore --store "$st" --name bad/name
grep -q "^thaw restore: error: --name: bad snapshot name 'bad/name'" "$TMP/err" || fail "$(cat "$TMP/err")"
expect 2 "$THAW" store --grace soon gc
grep -q "^thaw store: error: --grace: bad value 'soon'" "$TMP/err" || fail "$(cat "$TMP/err")"
expect 2 "$THAW" image ls --threads many
grep -q "^thaw image: error: --threads: bad value 'many'" "$TMP/err" || fail "$(cat "$TMP/err")"
expect 2 "$THAW" serve --listen nowhere -- true
grep -q "^thaw serve: error: --listen: not an ADDR:PORT: nowhere" "$TMP/err" || fail "$(cat "$TMP/err")"
expect 2 "$THAW" serve --max-workers lots -- true
grep -q "^thaw serve: error: --max-workers: not a count in range: lots" "$TMP/err" || fail "$(cat "$TMP/err")"

# thaw run passes CMD's status through, and a signal as 128+N
expect 7 "$THAW" run --no-snapshot -- sh -c 'exit 7'
expect 0 "$THAW" run --no-snapshot -- true
expect 137 "$THAW" run --no-snapshot -- sh -c 'kill -KILL $$'

# -q: nothing but errors
expect 0 "$THAW" -q run --no-snapshot -- true
[ ! -s "$TMP/err" ] || fail "thaw -q run said: $(cat "$TMP/err")"
start q "$PROGS/basic"
wait_ready q
expect 1 "$THAW" dump --pid "$PID" --dir "$TMP/nodir/snap"
[ "$(cat "$TMP/err")" = "thaw dump: error: snapshot $TMP/nodir/snap: cannot create it: No such file or directory" ] ||
	fail "dump into a missing directory said: $(cat "$TMP/err")"
kill -0 "$PID" || fail "a dump that failed killed pid $PID"
expect 0 "$THAW" -q dump --pid "$PID" --dir "$TMP/snap"
[ ! -s "$TMP/err" ] || fail "thaw -q dump said: $(cat "$TMP/err")"
wait_gone "$PID" 5 || fail "pid $PID runs on after thaw dump"
expect 0 "$THAW" dump --help
expect 1 "$THAW" -q dump --pid $pid --dir "$TMP/none"
grep -q "no such process $pid" "$TMP/err" || fail "thaw -q hid an error"

# colour: on a terminal the level is coloured; never with NO_COLOR, never on a pipe
esc=$'\033['
on_tty() { script -qec "$*" "$TMP/tty.log" >/dev/null 2>&1 </dev/null; }
on_tty "$THAW dump --pid $pid --dir $TMP/none"
grep -q "no such process $pid" "$TMP/tty.log" || fail "under script: $(cat "$TMP/tty.log")"
grep -qF "${esc}1;31merror${esc}0m" "$TMP/tty.log" || fail "no colour on a terminal"
on_tty "NO_COLOR=1 $THAW dump --pid $pid --dir $TMP/none"
grep -q "no such process $pid" "$TMP/tty.log" || fail "under script: $(cat "$TMP/tty.log")"
! grep -qF "$esc" "$TMP/tty.log" || fail "colour on a terminal with NO_COLOR set"
expect 1 "$THAW" dump --pid $pid --dir "$TMP/none"
! grep -qF "$esc" "$TMP/err" || fail "colour on a pipe"
pass
