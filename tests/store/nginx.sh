# nginx.sh - sourced by store integration tests after tests/lib.sh:
# nginx_start starts Debian's nginx as a WebDAV server on 127.0.0.1 on a free
# port, serving $TMP/www, and sets NGINX_URL and NGINX_PID (tracked, so
# lib.sh kills it by PID on exit).  Skips the test when nginx is missing.
nginx_start() {
	local dir=$TMP/nginx port i conf
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || skip "nginx is not installed"
	mkdir -p "$dir" "$TMP/www"
	for i in 1 2 3 4 5 6 7 8 9 10; do
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		conf=$dir/nginx.conf
		sed -e "s|@DIR@|$dir|g" -e "s|@ROOT@|$TMP/www|g" -e "s|@PORT@|$port|g" \
			"$(dirname "${BASH_SOURCE[0]}")/nginx.conf.in" >"$conf"
		rm -f "$dir/nginx.pid"
		/usr/sbin/nginx -e "$dir/error.log" -c "$conf" -p "$dir" >>"$dir/stderr.log" 2>&1 &
		NGINX_PID=$!
		track "$NGINX_PID"
		for ((j = 0; j < 100; j++)); do
			curl -s -o /dev/null "http://127.0.0.1:$port/" && break
			alive "$NGINX_PID" || break
			sleep 0.05
		done
		if alive "$NGINX_PID"; then
			NGINX_URL=http://127.0.0.1:$port/store
			log "nginx pid $NGINX_PID on $NGINX_URL"
			return 0
		fi
	done
	fail "nginx did not start: $(tail -n 3 "$dir/error.log" "$dir/stderr.log" 2>/dev/null)"
}
