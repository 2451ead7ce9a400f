#!/bin/bash
# 82-nginx-uid.sh - an unmodified nginx, master as root and workers as
# www-data, comes back whole: the workers as www-data with no capabilities,
# the master as root, answering on the same port.  (Its workers' rlimits
# could not even be read before: prlimit on another uid's process needs
# CAP_SYS_RESOURCE.)  Skipped where nginx or curl is not installed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_thaw
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip "nginx is not installed"
command -v curl >/dev/null || skip "curl is not installed"
id www-data >/dev/null 2>&1 || skip "no www-data user"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/nginx/logs" || fail "mkdir"
cat >"$TMP/nginx/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
user www-data;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fastcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	server { listen 127.0.0.1:$port; location / { return 200 "hello from nginx\n"; } }
}
CONF

# creds_of PID: its ids, groups and effective capabilities, on one line
creds_of() {
	grep -E '^(Uid|Gid|Groups|CapEff):' "/proc/$1/status" | tr '\t\n' ' |'
}

# answers NAME: nginx answers on the port within TIMEOUT
answers() {
	local i
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		[ "$(curl -s -m 2 "http://127.0.0.1:$port/")" = "hello from nginx" ] && return 0
		sleep 0.1
	done
	fail "$1: nginx does not answer on port $port"
}

# workers_of ROOT: the two worker pids, once both run as www-data
workers_of() {
	local i w
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		w=$(children_of "$1")
		[ "$(echo "$w" | wc -w)" = 2 ] && break
		sleep 0.05
	done
	echo "$w"
}

start nginx "$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx"
track_tree "$PID"
answers original
workers=$(workers_of "$PID")
[ "$(echo "$workers" | wc -w)" = 2 ] || fail "nginx has workers '$workers', want 2"
track $workers
master_before=$(creds_of "$PID")
worker_before=$(creds_of "${workers%% *}")
case $worker_before in "Uid: $(id -u www-data) "*) ;; *) fail "the worker is not www-data: $worker_before" ;; esac

dump_ok "$PID" "$TMP/snap"
for w in $workers; do
	wait_gone "$w" 5 || fail "worker $w still runs after thaw dump"
done
restore_detached nginx-restored "$TMP/snap"
track_tree "$PID"
answers restored
workers=$(workers_of "$PID")
[ "$(echo "$workers" | wc -w)" = 2 ] || fail "restored nginx has workers '$workers', want 2"
[ "$(creds_of "$PID")" = "$master_before" ] ||
	fail "master credentials before: $master_before; after: $(creds_of "$PID")"
for w in $workers; do
	[ "$(creds_of "$w")" = "$worker_before" ] ||
		fail "worker $w credentials before: $worker_before; after: $(creds_of "$w")"
done
log "restored: master $(creds_of "$PID" | cut -d'|' -f1), workers $(creds_of "${workers%% *}" | cut -d'|' -f1)"
pass
