#!/bin/bash
# bench/run-image.sh - end to end: the torch worker (examples/worker.py) under
# thaw run --image from an image served over HTTP, with empty caches (cold
# first start, then restored starts), against the same worker from the
# host's own filesystem.
#
# The image (bench/image-tree.py): the files (dpkg -L) of python3,
# python3-torch and python3-numpy and of every package they depend on, with
# the bytecode Debian compiled for them at install time, plus the worker at
# /app/worker.py; pushed to nginx on 127.0.0.1 (WebDAV, as the store's HTTP
# tests).  Its start is recorded first (thaw image record around a thaw run
# --root of the mount), so that every later mount prefetches it.
#
# "Empty caches": the page cache dropped (echo 3 > /proc/sys/vm/drop_caches)
# and, for the image, a fresh local cache in front of the server, so that
# every byte the cold start reads comes from nginx through the FUSE mount.
# Snapshots go to local directory stores for both.  Rows:
#   host: cold with the page cache dropped; restored (page cache warm);
#   image: cold with empty caches (it mounts the image, shared); restored
#     (the shared mount and its page cache stay between runs); restored with
#     the page cache dropped (the disk cache holds the chunks); restored with
#     --image-keep 0 (a mount of the run's own: a fresh page cache each time).
# Times are thaw run's wall time, from its start to the worker's exit (the
# worker prints one line and ends), median of N.
#
#   BUILD=build N=3 bench/run-image.sh     JSON in $BUILD/bench-run-image.json
. "$(dirname "$0")/../tests/lib.sh"
. "$(dirname "$0")/../tests/store/nginx.sh"
. "$(dirname "$0")/../tests/imagefs/imagefs-lib.sh"
need_fuse
N=${N:-3}
WORKER=$(realpath examples/worker.py)
nginx_start
U=$NGINX_URL
ACCESS=$TMP/nginx/access.log

log "building the tree"
python3 "$(dirname "$0")/image-tree.py" "$TMP/tree" --app "$WORKER" /app/worker.py \
	python3 python3-torch python3-numpy >"$TMP/tree.json" || fail "tree"
s=$(date +%s.%N)
"$THAW" -q image push "$TMP/tree" --store "$U" --cache "$TMP/cpush" --name torch \
	>"$TMP/push.log" 2>&1 || fail "push: $(tail -n 3 "$TMP/push.log")"
PUSH_S=$(echo "$(date +%s.%N) - $s" | bc)
STORED=$(du -sb "$TMP/www/store/chunks" | cut -f1)

log "recording the start"
mkdir -p "$TMP/rec"
MOUNTS+=("$TMP/rec")
"$THAW" image record --store "$U" --cache "$TMP/crec" --name torch "$TMP/rec" -- \
	"$THAW" run --store "$TMP/recsnap" --no-snapshot --root "$TMP/rec" -- \
	/usr/bin/python3 /app/worker.py >"$TMP/record.log" 2>&1 ||
	fail "record: $(tail -n 3 "$TMP/record.log")"
RECORDED=$(sed -n 's/.*recorded \([0-9]*\) chunks.*/\1/p' "$TMP/record.log")

# start [restored|snapshotted] ARGS...: thaw run ARGS; prints its wall time in seconds
start() {
	local want=$1 s rc
	shift
	s=$(date +%s.%N)
	"$THAW" run "$@" >"$TMP/last.out" 2>"$TMP/last.err" </dev/null
	rc=$?
	echo "$(date +%s.%N) - $s" | bc
	[ $rc = 0 ] && grep -q '^ready: ' "$TMP/last.out" || fail "exit $rc: $(cat "$TMP/last.out" "$TMP/last.err")"
	case $want in
	restored) grep -q 'restored ' "$TMP/last.err" || fail "not restored: $(cat "$TMP/last.err")" ;;
	snapshotted) grep -q 'snapshot created' "$TMP/last.err" || fail "no snapshot: $(cat "$TMP/last.err")" ;;
	esac
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
HOST=(--store "$TMP/hsnap" -- /usr/bin/python3 "$TMP/tree/app/worker.py")
# the image's cache (a configuration file's: --cache would make the snapshots' store a chunk store)
echo "cache = $(realpath "$TMP")/crun" >"$TMP/config"
export THAW_CONFIG_SYSTEM=$TMP/config
IMAGE=(--store "$TMP/isnap" --image torch --image-store "$U")

log "host"
drop
HOST_COLD=$(start snapshotted "${HOST[@]}") || exit 1
HOST_REST=""
for ((i = 0; i < N; i++)); do
	t=$(start restored "${HOST[@]}") || exit 1
	HOST_REST="$HOST_REST $t"
done

log "image"
drop
: >"$ACCESS"
IMG_COLD=$(start snapshotted "${IMAGE[@]}" -- /usr/bin/python3 /app/worker.py) || exit 1
SHARED=$(sed -n 's|.*image torch mounted at \(/run/thaw/images/[0-9a-f]*\) .*|\1|p' "$TMP/last.err")
[ -n "$SHARED" ] || fail "no shared mount: $(cat "$TMP/last.err")"
MOUNTS+=("$SHARED")
SPID=$(cat "$SHARED.pid")
track "$SPID"
FETCHED=$(awk '$7 ~ /^\/store\/chunks\// && $9 == 200 {b += $10} END {print b + 0}' "$ACCESS")
IMG_REST="" IMG_DROP="" IMG_OWN=""
for ((i = 0; i < N; i++)); do
	t=$(start restored "${IMAGE[@]}" -- /usr/bin/python3 /app/worker.py) || exit 1
	IMG_REST="$IMG_REST $t"
done
for ((i = 0; i < N; i++)); do
	drop
	t=$(start restored "${IMAGE[@]}" -- /usr/bin/python3 /app/worker.py) || exit 1
	IMG_DROP="$IMG_DROP $t"
done
for ((i = 0; i < N; i++)); do
	t=$(start restored "${IMAGE[@]}" --image-keep 0 -- /usr/bin/python3 /app/worker.py) || exit 1
	IMG_OWN="$IMG_OWN $t"
done
img_ok umount "$SHARED"
wait_gone "$SPID" || fail "the image's server $SPID stays after its umount" # (it removes its files)

HR=$(median <<<"$HOST_REST")
IR=$(median <<<"$IMG_REST")
ID=$(median <<<"$IMG_DROP")
IO=$(median <<<"$IMG_OWN")
cat >"$BUILD/bench-run-image.json" <<JSON
{"machine": "$(nproc) CPUs, $(uname -r)", "tree": $(cat "$TMP/tree.json"),
 "stored_bytes": $STORED, "push_s": $PUSH_S, "recorded_chunks": ${RECORDED:-0}, "n": $N,
 "image_cold_fetched_bytes": $FETCHED,
 "host_cold_dropped_s": $HOST_COLD, "host_restored_s": $HR,
 "image_cold_empty_caches_s": $IMG_COLD, "image_restored_s": $IR,
 "image_restored_page_cache_dropped_s": $ID, "image_restored_own_mount_s": $IO,
 "all": {"host_restored": "$HOST_REST", "image_restored": "$IMG_REST",
         "image_restored_dropped": "$IMG_DROP", "image_restored_own": "$IMG_OWN"}}
JSON
printf '%-58s %8s   %s\n' "start (thaw run wall time, median of $N)" seconds "(all runs)"
printf '%-58s %8.2f\n' "host files: cold, page cache dropped, snapshot taken" "$HOST_COLD"
printf '%-58s %8.2f   %s\n' "host files: restored" "$HR" "$HOST_REST"
printf '%-58s %8.2f\n' "image: cold, caches empty, prefetch, snapshot taken" "$IMG_COLD"
printf '%-58s %8.2f   %s\n' "image: restored (shared mount)" "$IR" "$IMG_REST"
printf '%-58s %8.2f   %s\n' "image: restored, page cache dropped" "$ID" "$IMG_DROP"
printf '%-58s %8.2f   %s\n' "image: restored, --image-keep 0 (a mount of its own)" "$IO" "$IMG_OWN"
python3 - "$TMP/tree.json" <<PY
import json, sys
t = json.load(open(sys.argv[1]))
print("image: %d packages, %d files, %.0f MB; stored %.0f MB on nginx; pushed in %.1f s; "
      "recorded start %s chunks; the cold start fetched %.0f MB"
      % (t["packages"], t["files"], t["bytes"] / 1e6, $STORED / 1e6, $PUSH_S, "${RECORDED:-0}",
         $FETCHED / 1e6))
PY
pass
