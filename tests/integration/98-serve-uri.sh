#!/bin/bash
# 98-serve-uri.sh - thaw serve passes a request on only when its target is a
# path ("/..." or "*"): serve builds the worker's URL as http://127.0.0.1:PORT
# followed by the target, so a client's "@127.0.0.1:1/" made it a URL of
# another port (port 1, where nothing listens: the worker was taken for
# unreachable and stopped, and so was every worker the request was given to
# next), and "@name/" made serve resolve a name of the client's choosing.
# Such a request is a 400 of serve's; the worker serves on. A method longer
# than serve keeps (31 bytes) is a 501, never passed on cut short.
. "$(dirname "$0")/../lib.sh"
need_thaw
. "$(dirname "$0")/../serve/lib.sh"

serve A --min-warm 1 --max-workers 2 --concurrency 1 --scaledown-window 600 --no-snapshot
wait_workers A 1
first=$(get A /id | cut -d" " -f1,2) || fail "no answer through serve"
for target in '@127.0.0.1:1/id' '@localhost:1/id' 'id' 'http://127.0.0.1:1/id'; do
	code=$(curl -sS -m "$TIMEOUT" -o "$TMP/uri.out" -w '%{http_code}' --request-target "$target" \
		"http://127.0.0.1:$PORT_A/")
	log "target $target: $code $(cat "$TMP/uri.out")"
	[ "$code" = 400 ] || fail "request target $target: $code, not 400: $(cat "$TMP/uri.out")"
done
[ "$(count_events A worker_unreachable)" = 0 ] ||
	fail "a client's request target stopped a worker: $(grep worker_unreachable "$TMP/A.json")"
[ "$(get A /id | cut -d" " -f1,2)" = "$first" ] || fail "the first worker does not answer any more"
# a method longer than serve keeps is a 501, not cut into another method
long=$(printf 'M%.0s' $(seq 40))
code=$(curl -sS -m "$TIMEOUT" -o "$TMP/uri.out" -w '%{http_code}' -X "$long" "http://127.0.0.1:$PORT_A/id")
[ "$code" = 501 ] && grep -q "method is too long" "$TMP/uri.out" ||
	fail "a 40-byte method: $code, not serve's 501: $(cat "$TMP/uri.out")"
# (the worker answers PATCH itself, with its own 501)
curl -sS -m "$TIMEOUT" -o "$TMP/uri.out" -X PATCH "http://127.0.0.1:$PORT_A/id"
grep -q "Unsupported method ('PATCH')" "$TMP/uri.out" || fail "PATCH did not reach the worker: $(cat "$TMP/uri.out")"
# a path with a query that holds an @ still goes through
get A '/id?x=@127.0.0.1:1' >/dev/null || fail "a query with @ in it was refused"
stop_serve A
pass
