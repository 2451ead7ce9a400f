#!/bin/bash
# 51-store-http-userinfo.sh - a store URL with credentials in it
# (http://user:password@host/...) is refused, and the password appears in no
# line thaw writes: thaw names the store's URL in what it logs (labels,
# failed requests), so a password there ended up in logs.
. "$(dirname "$0")/../lib.sh"
need_thaw
URL='http://user:s3cr3t-pw@127.0.0.1:1/store'
for cmd in "snapshots --store $URL" "restore --store $URL --name foo" \
	"store --store $URL ls"; do
	# shellcheck disable=SC2086
	"$THAW" $cmd >"$TMP/out" 2>&1 </dev/null && fail "thaw $cmd succeeded"
	log "thaw $cmd: $(cat "$TMP/out")"
	grep -q 's3cr3t-pw' "$TMP/out" && fail "thaw $cmd wrote the URL's password: $(cat "$TMP/out")"
	grep -q 'credentials in a URL' "$TMP/out" || fail "thaw $cmd: not refused for its credentials: $(cat "$TMP/out")"
done
pass
