#!/bin/bash
# 59-run-chunk-http.sh - thaw run with its snapshots in an HTTP chunk store
# (Debian's nginx, WebDAV, on 127.0.0.1): a cold start puts the snapshot on
# the server; starts with empty local caches (other hosts, in effect) restore
# it and go on from the snapshot point; a corrupted chunk on the server and a
# server that is gone are cold starts, and the program always starts.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
. "$(dirname "$0")/../store/run-lib.sh"
. "$(dirname "$0")/../store/nginx.sh"
need_thaw
need_prog sdk-counter
"$THAW" run --help 2>&1 | grep -q -- --chunk-store || skip "this thaw run has no --chunk-store"
export THAW_RESTORE_TMPDIR=$TMP/shm
mkdir -p "$THAW_RESTORE_TMPDIR"
nginx_start
WWW=$TMP/www/store

# 1. cold start: the snapshot and both names land on the server
counter cold --store "$NGINX_URL" --cache "$TMP/cache1"
was_cold cold
expect_err cold "thaw: cold start: no snapshot yet"
key=$(sed -n 's/.*snapshot created sdk-counter \([0-9a-f]*\) .*/\1/p' "$TMP/cold.err")
[ -s "$WWW/names/run-$key" ] || fail "name run-$key was not PUT: $(ls "$WWW/names" 2>&1)"
[ -s "$WWW/names/run-name-sdk-counter" ] || fail "name run-name-sdk-counter was not PUT"
no_copies "$TMP/cache1"

# 2. an empty cache: restored from the server; the cache is filled once the program runs
counter warm --store "$NGINX_URL" --cache "$TMP/cache2"
was_restored warm
[ "$(find "$TMP/cache2/chunks" -type f | wc -l)" -gt 0 ] || fail "the cache was not filled"
no_copies "$TMP/cache2"
# and again from that warm cache
counter warm2 --store "$NGINX_URL" --cache "$TMP/cache2"
was_restored warm2

# 3. a changed environment: the reason comes from the newest snapshot of the name, over HTTP
export RUN73_FLAVOUR=b
counter env --store "$NGINX_URL" --cache "$TMP/cache2"
unset RUN73_FLAVOUR
expect_err env "thaw: cold start: environment variable RUN73_FLAVOUR was set"
was_cold env

# 4. a corrupted chunk on the server, empty cache: cold start, the program runs and is
#    snapshotted again, which puts the bad chunk again (the server's copy is overwritten);
#    that start's cache has every chunk, so the next one restores, and so does a host
#    with an empty cache
c=$(find "$WWW/chunks" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
flip_byte "$c" 300
counter corrupt --store "$NGINX_URL" --cache "$TMP/cache3"
grep -qE "cold start: restore failed: chunk [0-9a-f]+ .*snapshot run-$key.*no tier has a good copy" \
	"$TMP/corrupt.err" || fail "corrupt: reason: $(cat "$TMP/corrupt.err")"
was_cold corrupt
no_copies "$TMP/cache3"
counter healed --store "$NGINX_URL" --cache "$TMP/cache3"
was_restored healed corrupt
counter healed-empty --store "$NGINX_URL" --cache "$TMP/cache-healed"
was_restored healed-empty corrupt

# 5. the server is gone: a cold start, the program runs, no snapshot and why
kill -KILL "$NGINX_PID"
wait_gone "$NGINX_PID" 5 || fail "nginx $NGINX_PID did not stop"
counter down --store "$NGINX_URL" --cache "$TMP/cache4"
expect_err down "thaw: cold start: snapshot metadata is unreadable: "
grep -q '^result snapshotted$' "$TMP/down.out" || fail "down: $(cat "$TMP/down.out")"
expect_err down "thaw: no snapshot of sdk-counter: storing it in $NGINX_URL failed: "
no_copies "$TMP/cache4"
pass
