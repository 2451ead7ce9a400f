#!/bin/bash
# 14-config.sh - thaw's configuration files (thaw(1) FILES): the system's
# (THAW_CONFIG_SYSTEM stands for /etc/thaw/config here, so that the test
# never touches the machine's), the user's in $XDG_CONFIG_HOME/thaw or
# ~/.config/thaw; precedence flag > environment > user > system, for the
# store, the key file and the S3 endpoint; the key file and cache of a file
# are used only by a store that takes them; the S3 endpoint's precedence; errors name the file and line;
# a file others can write is refused; --help works whatever the files hold;
# thaw dump, restore and image take their defaults from the files too.
. "$(dirname "$0")/../lib.sh"
need_thaw
unset THAW_STORE THAW_S3_ENDPOINT XDG_CONFIG_HOME
export THAW_CONFIG_SYSTEM=$TMP/etc/config
export HOME=$TMP/home
mkdir -p "$TMP/etc" "$HOME/.config/thaw" "$TMP/xdg/thaw"
USER_CONF=$HOME/.config/thaw/config

# which NAME ARGS...: thaw snapshots names the store it read: it must be $TMP/NAME
which() {
	local want=$TMP/$1 out
	shift
	out=$("$THAW" snapshots "$@" 2>&1) || fail "thaw snapshots $*: $out"
	[ "$out" = "no snapshots in $want" ] || fail "want the store $want, got: $out"
}

# refused FILE-PATTERN ARGS...: thaw snapshots exits 1 naming what is wrong
refused() {
	local want=$1 out st=0
	shift
	out=$("$THAW" snapshots "$@" 2>&1) || st=$?
	[ "$st" = 1 ] || fail "exit $st, want 1: $out"
	grep -qF -- "$want" <<<"$out" || fail "want '$want' in: $out"
}

# 1. no files at all: the built-in default
which home/.cache/thaw
# 2. the system's file
printf '# the machine'"'"'s defaults\nstore = %s\n' "$TMP/sys" >"$THAW_CONFIG_SYSTEM"
which sys
# 3. the user's file over the system's
printf 'store = %s\n' "$TMP/user" >"$USER_CONF"
which user
# 4. XDG_CONFIG_HOME's over ~/.config (an absolute one only: a relative one is ignored)
printf 'store=%s\n' "$TMP/xdg-store" >"$TMP/xdg/thaw/config"
XDG_CONFIG_HOME=$TMP/xdg which xdg-store
XDG_CONFIG_HOME=xdg which user
# 5. the environment over the files, the flag over everything
THAW_STORE=$TMP/env which env
THAW_STORE=$TMP/env which flag --store "$TMP/flag"
which flag --store "$TMP/flag"
# 6. THAW_CONFIG_SYSTEM empty: no system file
rm "$USER_CONF"
THAW_CONFIG_SYSTEM= which home/.cache/thaw

# 7. errors name the file and line; unknown keys are errors; --help still works
printf 'store = %s\n\nstor = /x\n' "$TMP/user" >"$USER_CONF"
refused "$USER_CONF:3: unknown key 'stor'"
printf 'store = relative\n' >"$USER_CONF"
refused "$USER_CONF:1: store: 'relative' is not an absolute directory"
"$THAW" snapshots --help >/dev/null || fail "--help fails with a broken configuration file"
rm "$USER_CONF"

# 8. a file others could write is refused (it chooses root's key file), so is its directory
printf 'store = %s\n' "$TMP/sys" >"$THAW_CONFIG_SYSTEM"
chmod 0666 "$THAW_CONFIG_SYSTEM"
refused "is writable by others"
chmod 0644 "$THAW_CONFIG_SYSTEM"
chmod 0777 "$TMP/etc"
refused "is writable by others"
chmod 0755 "$TMP/etc"
which sys

# 9. the key file: flag over user over system (thaw store reads it for any store)
# keyed WANT ARGS...: thaw store ls exits 1 for want of the key file WANT
keyed() {
	local want=$1 out st=0
	shift
	out=$("$THAW" store ls --store "$TMP/plain" "$@" 2>&1) || st=$?
	[ "$st" = 1 ] || fail "exit $st, want 1: $out"
	grep -qF -- "key file $want: no such file" <<<"$out" || fail "want key file $want: $out"
}
printf 'key-file = %s
cache = %s
' "$TMP/sys.key" "$TMP/cache" >"$THAW_CONFIG_SYSTEM"
mkdir -p "$TMP/plain" # thaw store ls does not make a store it is told to read
keyed "$TMP/sys.key"
printf 'key-file = %s
' "$TMP/user.key" >"$USER_CONF"
keyed "$TMP/user.key"
keyed "$TMP/flag.key" --key-file "$TMP/flag.key"

# 10. thaw run: the files' key file and cache serve a chunk store, and are no error
# on a plain one (where --key-file and --cache are)
"$THAW" run --store "$TMP/plain-run" -- /bin/true 2>"$TMP/plain.err" ||
	fail "thaw run on a plain store with a key file in the configuration: $(cat "$TMP/plain.err")"
st=0
"$THAW" run --store "$TMP/plain-run2" --key-file "$TMP/user.key" -- /bin/true 2>/dev/null || st=$?
[ "$st" = 2 ] || fail "--key-file on a plain store: exit $st, want 2"
st=0
"$THAW" run --store "$TMP/chunk-run" --chunk-store -- /bin/true 2>"$TMP/chunk.err" || st=$?
[ "$st" = 1 ] && grep -qF "key file $TMP/user.key: no such file" "$TMP/chunk.err" ||
	fail "a chunk store did not take the configuration's key file: exit $st, $(cat "$TMP/chunk.err")"

# 11. the S3 endpoint: flag over environment over file; nothing listens on these
# loopback ports, so the error names the endpoint that was used
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE
printf 'store = s3://bucket/prefix\ns3-endpoint = http://127.0.0.1:1\n' >"$USER_CONF"
: >"$THAW_CONFIG_SYSTEM"
# endpoint WANT ARGS...: thaw store ls fails reaching WANT
endpoint() {
	local want=$1 out st=0
	shift
	out=$("$THAW" store ls "$@" 2>&1) || st=$?
	[ "$st" = 1 ] || fail "exit $st, want 1: $out"
	grep -qF -- "$want/bucket/" <<<"$out" || fail "want the endpoint $want: $out"
}
endpoint http://127.0.0.1:1
THAW_S3_ENDPOINT=http://127.0.0.1:2 endpoint http://127.0.0.1:2
THAW_S3_ENDPOINT=http://127.0.0.1:2 endpoint http://127.0.0.1:3 --s3-endpoint http://127.0.0.1:3

# 12. thaw dump and thaw restore take the files' S3 endpoint (the error names it)
# and key file (dump signs with it, restore demands it; their flag wins)
need_prog basic
start cfg "$PROGS/basic"
wait_ready cfg
st=0
"$THAW" dump --pid "$PID" --leave-running --store s3://bucket/prefix --name c >/dev/null \
	2>"$TMP/d3.err" || st=$?
[ "$st" = 1 ] && grep -qF "http://127.0.0.1:1/bucket/" "$TMP/d3.err" ||
	fail "thaw dump did not take the file's S3 endpoint: exit $st, $(cat "$TMP/d3.err")"
alive "$PID" || fail "a dump that failed killed pid $PID"
st=0
"$THAW" restore --store s3://bucket/prefix --name c >/dev/null 2>"$TMP/r3.err" </dev/null || st=$?
[ "$st" = 1 ] && grep -qF "http://127.0.0.1:1/bucket/" "$TMP/r3.err" ||
	fail "thaw restore did not take the file's S3 endpoint: exit $st, $(cat "$TMP/r3.err")"
head -c 32 /dev/urandom >"$TMP/cfg.key"
head -c 32 /dev/urandom >"$TMP/flag.key"
chmod 600 "$TMP/cfg.key" "$TMP/flag.key"
printf 'key-file = %s\n' "$TMP/cfg.key" >"$USER_CONF"
dump_ok "$PID" "$TMP/cfg-snap" --leave-running
[ -f "$TMP/cfg-snap/manifest.sig" ] || fail "thaw dump did not sign with the file's key"
"$THAW" inspect --no-verify --key-file "$TMP/cfg.key" "$TMP/cfg-snap" >/dev/null 2>&1 ||
	fail "thaw dump signed with another key than the file's"
dump_ok "$PID" "$TMP/flag-snap" --leave-running --key-file "$TMP/flag.key"
"$THAW" inspect --no-verify --key-file "$TMP/flag.key" "$TMP/flag-snap" >/dev/null 2>&1 ||
	fail "thaw dump --key-file signed with the file's key, not the flag's"
st=0
"$THAW" restore --dir "$TMP/flag-snap" --detach --pidfile "$TMP/refused.pid" </dev/null \
	>/dev/null 2>"$TMP/refused.err" || st=$?
[ -s "$TMP/refused.pid" ] && track_restored "$(cat "$TMP/refused.pid")" &&
	fail "thaw restore without --key-file ran a snapshot the file's key does not sign"
[ "$st" = 1 ] && grep -q "does not sign this manifest with this key" "$TMP/refused.err" ||
	fail "thaw restore did not check with the file's key: exit $st, $(cat "$TMP/refused.err")"
restore_detached cfg-restored "$TMP/flag-snap" --key-file "$TMP/flag.key"
kill -KILL "$PID"
restore_detached cfg-restored "$TMP/cfg-snap"
kill -KILL "$PID"

# 13. thaw image: the files' store and key file (the image is encrypted with it)
mkdir -p "$TMP/tree" && echo content >"$TMP/tree/file"
printf 'store = %s\nkey-file = %s\n' "$TMP/images" "$TMP/cfg.key" >"$USER_CONF"
"$THAW" image push "$TMP/tree" --name cfg >/dev/null 2>"$TMP/push.err" ||
	fail "thaw image push: $(cat "$TMP/push.err")"
[ -d "$TMP/images/names" ] || fail "thaw image push did not use the file's store"
"$THAW" image inspect cfg --store "$TMP/images" --key-file "$TMP/cfg.key" >/dev/null 2>&1 ||
	fail "the image is not in the file's store, under the file's key"
"$THAW" image inspect cfg >/dev/null 2>&1 || fail "thaw image inspect did not take the file's defaults"
st=0
"$THAW" image inspect cfg --key-file "$TMP/flag.key" >/dev/null 2>"$TMP/ik.err" || st=$?
[ "$st" = 1 ] && grep -q "wrong key" "$TMP/ik.err" ||
	fail "thaw image --key-file did not win over the file's: exit $st, $(cat "$TMP/ik.err")"
pass
