#!/bin/bash
# 52-store-faults.sh - HTTP faults with tests/store/fault-httpd.py on
# 127.0.0.1: 500s that pass (retried with backoff), a 403 (a clear error at
# once), a server that disappears in the middle of a get (a clear error, no
# directory published, nothing bad left in the cache).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
need_store_cmd

# fault_server NAME ARGS...: starts the server, sets URL
fault_server() {
	local name=$1 pf=$TMP/$1.port i
	shift
	python3 "$STORE_TESTS/fault-httpd.py" "$pf" "$@" >"$TMP/$name.log" 2>&1 &
	track $!
	SERVER_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || fail "$name: fault server did not start"
	URL=http://127.0.0.1:$(cat "$pf")/store
	log "$name: pid $SERVER_PID at $URL ($*)"
}

mksnap "$TMP/a" a --shared 2 --unique 2
st_ok --store "$TMP/local" put "$TMP/a" --name a

# every path answers 500 twice, then works: push and get succeed by retrying
fault_server flaky --fail 2
st_ok --store "$TMP/local" push a --to "$URL"
st_ok --store "$URL" --cache "$TMP/c1" get a --dir "$TMP/a.got"
same_dir "$TMP/a" "$TMP/a.got"
kill "$SERVER_PID"

# 500 for longer than the retries: a clear error naming the URL
fault_server down --fail 100
st_fails "HTTP 500 after 3 attempts" --store "$URL" --cache "$TMP/c2" --retries 2 \
	get a --dir "$TMP/a.down"
[ -e "$TMP/a.down" ] && fail "a failed get left a directory"
kill "$SERVER_PID"

# 403: no retries, says so
fault_server forbidden --status 403
st_fails "HTTP 403" --store "$URL" --cache "$TMP/c3" get a --dir "$TMP/a.403"
kill "$SERVER_PID"

# the server dies halfway through the third chunk: clear error, nothing
# published, and every chunk the cache kept is whole
fault_server dying --seed "$TMP/local" --die-after 2
st_fails "chunk .*snapshot a|127.0.0.1" --store "$URL" --cache "$TMP/c4" --retries 2 \
	--timeout-ms 3000 get a --dir "$TMP/a.died"
[ -e "$TMP/a.died" ] && fail "a get from a dying server left a directory"
compgen -G "$TMP/a.died.tmp*" >/dev/null && fail "temporary directory left behind"
wait_gone "$SERVER_PID" 5 || fail "the dying server did not exit"
# what the cache holds must verify: serve the full store again through it
fault_server back --seed "$TMP/local"
st_ok --store "$URL" --cache "$TMP/c4" verify a
st_ok --store "$URL" --cache "$TMP/c4" get a --dir "$TMP/a.back"
same_dir "$TMP/a" "$TMP/a.back"
pass
