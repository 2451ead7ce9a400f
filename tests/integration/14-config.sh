#!/bin/bash
# 14-config.sh - thaw's configuration files (thaw(1) FILES): the system's
# (THAW_CONFIG_SYSTEM stands for /etc/thaw/config here, so that the test
# never touches the machine's), the user's in $XDG_CONFIG_HOME/thaw or
# ~/.config/thaw; precedence flag > environment > user > system, for the
# store, the key file and the S3 endpoint; the key file and cache of a file
# are used only by a store that takes them; the S3 endpoint's precedence; errors name the file and line;
# a file others can write is refused; --help works whatever the files hold.
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
pass
