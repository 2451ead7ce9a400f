# tests/serve/lib.sh - helpers the thaw serve tests (tests/integration/93-serve*.sh) share.
# Sourced after tests/lib.sh.  Every process a test starts is tracked by PID: the
# serve, and each worker's thaw run and its descendants as soon as they are seen
# (track_workers), so that cleanup kills them whatever happens.
command -v python3 >/dev/null || skip "no python3"
command -v curl >/dev/null || skip "no curl"
WORKER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/worker.py

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve NAME [SERVE-OPTIONS...]: thaw serve of worker.py in the background; sets
# SERVE_PID, PORT_<NAME>=..., ADMIN_<NAME>=..., and writes $TMP/NAME.{out,json}.
serve() {
	local name=$1 port admin
	shift
	port=$(free_port)
	admin=$(free_port)
	"$THAW" serve --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" \
		--json-events "$TMP/$name.json" --ready-path /ready "$@" -- python3 "$WORKER" \
		</dev/null >"$TMP/$name.out" 2>&1 &
	SERVE_PID=$!
	track "$SERVE_PID"
	printf -v "PORT_$name" %s "$port"
	printf -v "ADMIN_$name" %s "$admin"
	printf -v "PID_$name" %s "$SERVE_PID"
}

# Every descendant of PID.
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# track_workers PID: the serve's workers (thaw run and what runs under it) are tracked.
track_workers() {
	local p
	for p in $(descendants "$1"); do
		track "$p"
	done
}

# eventually CONDITION: true once the bash CONDITION (evaluated every 0.1 s) is,
# false if it never is within TIMEOUT.
eventually() {
	local i
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

# status NAME: the admin endpoint's /status JSON.
status() {
	local a="ADMIN_$1"
	curl -sS -m 5 "http://127.0.0.1:${!a}/status" 2>/dev/null
}

# ready_count NAME: workers in state ready.
ready_count() {
	status "$1" | python3 -c 'import json, sys
print(sum(w["state"] == "ready" for w in json.load(sys.stdin)["workers"]))' 2>/dev/null || echo 0
}

# wait_ready NAME N: until N workers are ready (bounded).
wait_workers() {
	local i p="PID_$1"
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		track_workers "${!p}"
		[ "$(ready_count "$1")" -ge "$2" ] && return 0
		alive "${!p}" || fail "thaw serve $1 exited"
		sleep 0.1
	done
	fail "thaw serve $1: not $2 ready workers within ${TIMEOUT}s: $(status "$1")"
}

# get NAME PATH [CURL-OPTIONS...]: a request through serve NAME; prints the body.
get() {
	local p="PORT_$1" path=$2
	shift 2
	curl -sS -m "$TIMEOUT" "$@" "http://127.0.0.1:${!p}$path"
}

# metric NAME SERIES: the value of one series of /metrics (0 when absent).
metric() {
	local a="ADMIN_$1"
	curl -sS -m 5 "http://127.0.0.1:${!a}/metrics" |
		awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

# count_events NAME EVENT: how many EVENT lines serve NAME wrote.
count_events() {
	local n
	n=$(grep -c "\"event\":\"$2\"" "$TMP/$1.json" 2>/dev/null)
	echo "${n:-0}"
}

# netns_of PID...: their network namespaces (for checking they are gone later).
netns_of() {
	local p
	for p in "$@"; do
		readlink "/proc/$p/ns/net" 2>/dev/null
	done | sort -u
}

# held_by_any NS...: true if some process on the system is in one of these namespaces.
held_by_any() {
	local ns f
	for f in /proc/[0-9]*/ns/net; do
		ns=$(readlink "$f" 2>/dev/null) || continue
		for want in "$@"; do
			[ "$ns" = "$want" ] && return 0
		done
	done
	return 1
}

# stop_serve NAME: SIGTERM, and it must exit 0 with every worker gone.
stop_serve() {
	local p="PID_$1" rc
	kill -TERM "${!p}"
	wait "${!p}"
	rc=$?
	[ "$rc" = 0 ] || fail "thaw serve $1 exited with $rc after SIGTERM"
}
