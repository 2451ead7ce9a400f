#!/bin/bash
# 97-serve-clients.sh - thaw serve against clients that hold it up: one that
# trickles its request head a byte at a time (never silent long enough for the
# idle timeout) is cut at --header-timeout, which counts from the head's first
# byte (not from the end of the last request on a kept-alive connection); one
# that trickles its body is cut by the body's minimum rate, and the worker's
# request is cancelled (it sees its body end short); a body sent in pieces fast
# enough is not cut; a client that disconnects mid-body, mid-response, or while
# its request waits in the queue, cancels it (the queued one never reaches the
# worker); a flood of idle connections stops at --max-connections (the next is
# closed unanswered, the held ones are still served); afterwards serve holds as
# many fds and threads as before.
. "$(dirname "$0")/../lib.sh"
need_thaw
. "$(dirname "$0")/../serve/lib.sh"
export WORKER_DIR=$TMP
CLIENT=$(dirname "$WORKER")/client.py

nr_fds() { ls "/proc/$1/fd" | wc -l; }
nr_threads() { ls "/proc/$1/task" | wc -l; }

# settle NAME FDS THREADS: until serve NAME has no client connection and holds
# FDS fds and THREADS threads (bounded).
settle() {
	local p="PID_$1" name=$1 want_fds=$2 want_threads=$3
	eventually '[ "$(metric "$name" thaw_serve_connections)" = 0 ] &&
		[ "$(nr_fds "${!p}")" = "$want_fds" ] && [ "$(nr_threads "${!p}")" = "$want_threads" ]' ||
		fail "serve $name holds $(nr_fds "${!p}") fds (was $want_fds), $(nr_threads "${!p}") threads (was $want_threads), $(metric "$name" thaw_serve_connections) connections"
}

serve A --store "$TMP/store" --min-warm 1 --max-workers 1 --concurrency 1 --queue 4 \
	--client-timeout 5 --header-timeout 2 --body-timeout 2 --body-min-rate 1000 \
	--max-connections 8 --scaledown-window 600
wait_workers A 1
get A /id >/dev/null || fail "no answer"
[ "$(metric A thaw_serve_connections_max)" = 8 ] || fail "connections_max: $(metric A thaw_serve_connections_max)"
settle A "$(nr_fds "$PID_A")" "$(nr_threads "$PID_A")"
fds=$(nr_fds "$PID_A")
threads=$(nr_threads "$PID_A")

# a head trickled a byte every 0.5 s (under the 5 s idle timeout): cut after about
# 2 s; in its header, in its request line (which libmicrohttpd never reports:
# only the socket's byte count shows it started), and in the request line of a
# second request pipelined after a first on a kept-alive connection
n=0
for head in 'GET /id HTTP/1.1\r\nHost: x\r\nX-Slow: ' 'GET /id?' \
	'GET /id HTTP/1.1\r\nHost: x\r\n\r\nGET /id?'; do
	out=$(python3 "$CLIENT" trickle "$PORT_A" "$head" '' 60 0.5)
	[[ $out =~ ^CUT\ after\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -lt 60 ] ||
		fail "a trickled head ($head) was not cut: $out"
	n=$((n + 1))
	[ "$(metric A 'thaw_serve_slow_clients_total{phase="header"}')" = $n ] ||
		fail "header cut $n not counted"
done

# the head's clock starts at its first byte: 3 s of keep-alive silence, then a
# second request in three pieces over 1 s, is answered
out=$(python3 "$CLIENT" later "$PORT_A" 3 3 0.5)
[ "$out" = "HTTP/1.1 200 OK" ] || fail "a request after keep-alive silence: $out"
[ "$(metric A 'thaw_serve_slow_clients_total{phase="header"}')" = 3 ] || fail "a paced head was cut"

# a body trickled a byte every 0.5 s: cut, and the worker sees its body end short
out=$(python3 "$CLIENT" trickle "$PORT_A" \
	'POST /upload?tag=slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' x 60 0.5)
[[ $out =~ ^CUT\ after\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -lt 60 ] ||
	fail "a trickled body was not cut: $out"
[ "$(metric A 'thaw_serve_slow_clients_total{phase="body"}')" = 1 ] || fail "body cut not counted"
eventually '[ -e "$TMP/slowbody.cancelled" ]' || fail "the worker's request went on after its slow body was cut"

# a body in three pieces 1 s apart, each well within the rate's credit: answered
out=$(python3 "$CLIENT" pieces "$PORT_A" /upload?tag=pieces 20000 3 1)
[ "$out" = "HTTP/1.1 200 OK got 60000" ] || fail "a body in pieces: $out"
[ "$(metric A 'thaw_serve_slow_clients_total{phase="body"}')" = 1 ] || fail "a paced body was cut"

# a client that disconnects mid-body: the worker's request is cancelled
cancelled=$(metric A thaw_serve_cancelled_total)
python3 "$CLIENT" abandon "$PORT_A" /upload?tag=gonebody 100000 3000
eventually '[ -e "$TMP/gonebody.cancelled" ]' || fail "the worker's request went on after its client left mid-body"
[ "$(metric A thaw_serve_cancelled_total)" -gt "$cancelled" ] || fail "mid-body disconnect not counted"

# and one that disconnects mid-response (counted in what is left below)
get A "/hang?tag=goneresp" -o /dev/null -m 1 2>/dev/null
eventually '[ -e "$TMP/goneresp.cancelled" ]' ||
	fail "the worker's request went on after its client left mid-response"

# a client that disconnects while queued: taken out of the queue, never sent to the worker
get A "/slow?ms=8000" >/dev/null &
busy=$!
track $busy
eventually '[ "$(metric A thaw_serve_requests_in_flight)" = 1 ]'
cancelled=$(metric A thaw_serve_cancelled_total)
python3 "$CLIENT" hold "$PORT_A" "/hang?tag=queuedgone" &
queued=$!
track $queued
eventually '[ "$(metric A thaw_serve_queue_length)" = 1 ]' || fail "the request was not queued"
kill "$queued"
eventually '[ "$(metric A thaw_serve_queue_length)" = 0 ]' || fail "a gone client's request stayed queued"
alive "$busy" || fail "the slow request ended before the queue was seen empty: the test proves nothing"
[ "$(metric A thaw_serve_cancelled_total)" -gt "$cancelled" ] || fail "queued disconnect not counted"
wait "$busy" || fail "the slow request failed"
get A /id >/dev/null || fail "no answer after the queued client left"
[ -e "$TMP/queuedgone.cancelled" ] && fail "a gone client's queued request reached the worker"

# a flood of idle connections: at most 8; the next is closed; those held are served
out=$(python3 "$CLIENT" flood "$PORT_A" "$ADMIN_A" 8) || fail "flood: $out"
get A /id >/dev/null || fail "no answer after the flood"

# nothing of any of it is left in serve
settle A "$fds" "$threads"
stop_serve A
pass
