# rgw.sh - sourced by the S3 store tests after tests/lib.sh: rgw_start brings
# up a one-node Ceph cluster on 127.0.0.1 (a monitor, one OSD on memstore,
# so nothing touches a disk, and radosgw, Ceph's S3 gateway), in $TMP/ceph,
# every daemon in the foreground and tracked by PID (lib.sh kills them on
# exit), creates the user THAWTESTKEY and sets S3_ENDPOINT, RGW_CONF and the
# AWS_* variables.  About 15 s on the 2-core VM.  Skips the test when Debian's
# ceph-mon, ceph-osd or radosgw are not installed (scripts/deps.sh installs
# them) and fails when they are but the cluster does not come up in 120 s.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# s3curl ARGS...: curl signing as the test user (creating buckets, planting objects)
s3curl() {
	curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

rgw_start() {
	local d=$TMP/ceph mon_port rgw_port fsid osd_uuid osd_pid try i c
	for c in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph uuidgen; do
		command -v "$c" >/dev/null || skip "$c is not installed (Debian's radosgw, ceph-mon, ceph-osd)"
	done
	mkdir -p "$d"/{mon,osd,run,log}
	mon_port=$(free_port)
	rgw_port=$(free_port)
	while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(free_port); done
	fsid=$(uuidgen)
	RGW_CONF=$d/ceph.conf
	# no authentication inside the cluster (it listens on 127.0.0.1 only and
	# lives as long as the test); one copy of everything; few placement groups
	cat >"$RGW_CONF" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 1073741824
run dir = $d/run
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
ms bind ipv6 = false
ms bind msgr2 = false
mon data = $d/mon
osd data = $d/osd
keyring = /dev/null
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $d/rgw
rgw dns name = localhost
CONF
	monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$d/monmap" \
		>"$d/log/monmaptool.out" 2>&1 || fail "monmaptool failed: $(tail -n 3 "$d/log/monmaptool.out")"
	ceph-mon --mkfs -i a --monmap "$d/monmap" -c "$RGW_CONF" >"$d/log/mkfs.out" 2>&1 ||
		fail "ceph-mon --mkfs failed: $(tail -n 3 "$d/log/mkfs.out")"
	ceph-mon -f -i a -c "$RGW_CONF" >>"$d/log/daemons.out" 2>&1 &
	track $!
	# the OSD is created with the uuid it is made with: with a random one in the
	# map, the OSD's own "osd create" at boot is refused ("wrong fsid") at times
	osd_uuid=$(uuidgen)
	timeout 60 ceph -c "$RGW_CONF" osd create "$osd_uuid" 0 >>"$d/log/mkfs.out" 2>&1 ||
		fail "the monitor did not answer: $(tail -n 3 "$d/log/mkfs.out" "$d/log/mon.a.log")"
	ceph-osd -i 0 --mkfs --osd-uuid "$osd_uuid" -c "$RGW_CONF" >>"$d/log/mkfs.out" 2>&1 ||
		fail "ceph-osd --mkfs failed: $(tail -n 3 "$d/log/mkfs.out")"
	# radosgw creates its pools at start: the OSD must be up first.  Now and
	# then (1 start in 5 here) an OSD's first request to the monitor is refused
	# with "wrong fsid" and it never boots; started again, it does: up to 4
	# starts, 30 s each
	for ((try = 0; try < 4; try++)); do
		ceph-osd -f -i 0 -c "$RGW_CONF" >>"$d/log/daemons.out" 2>&1 &
		osd_pid=$!
		track $osd_pid
		for ((i = 0; i < 30; i++)); do
			timeout 10 ceph -c "$RGW_CONF" osd stat >"$d/log/osd-stat.out" 2>&1
			grep -q "1 up" "$d/log/osd-stat.out" && break 2
			alive "$osd_pid" || break
			sleep 1
		done
		log "the OSD did not come up (start $((try + 1))): $(grep -m1 'wrong fsid' "$d/log/osd.0.log")"
		kill "$osd_pid" 2>/dev/null
		wait_gone "$osd_pid" 20 || kill -KILL "$osd_pid" 2>/dev/null
		wait_gone "$osd_pid" 10
	done
	grep -q "1 up" "$d/log/osd-stat.out" ||
		fail "the OSD did not come up: $(tail -n 2 "$d/log/osd-stat.out") $(tail -n 5 "$d/log/osd.0.log")"
	mkdir -p "$d/rgw"
	radosgw -f -n client.rgw -c "$RGW_CONF" >>"$d/log/daemons.out" 2>&1 &
	RGW_PID=$!
	track $RGW_PID
	for ((i = 0; i < 120 * 4; i++)); do
		curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" && break
		alive "$RGW_PID" || fail "radosgw exited: $(tail -n 5 "$d/log/daemons.out" "$d/log/client.rgw.log")"
		sleep 0.25
	done
	curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" ||
		fail "radosgw did not answer in 120 s: $(tail -n 5 "$d/log/client.rgw.log")"
	timeout 60 radosgw-admin -c "$RGW_CONF" user create --uid=thaw --display-name=thaw \
		--access-key=THAWTESTKEY --secret-key=thawtestsecret >"$d/log/user.out" 2>&1 ||
		fail "radosgw-admin user create failed: $(tail -n 3 "$d/log/user.out")"
	export AWS_ACCESS_KEY_ID=THAWTESTKEY AWS_SECRET_ACCESS_KEY=thawtestsecret AWS_REGION=us-east-1
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE THAW_S3_ENDPOINT THAW_S3_STYLE
	RGW_PORT=$rgw_port
	S3_ENDPOINT=http://127.0.0.1:$rgw_port
	log "radosgw pid $RGW_PID on $S3_ENDPOINT"
}

# s3_bucket NAME: creates a bucket
s3_bucket() {
	local code
	code=$(s3curl -o "$TMP/bucket.out" -w '%{http_code}' -X PUT "$S3_ENDPOINT/$1")
	[ "$code" = 200 ] || fail "creating bucket $1: HTTP $code $(cat "$TMP/bucket.out")"
}
