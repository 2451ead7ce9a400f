#!/bin/bash
# bench/run-image.sh - end to end: the torch worker (examples/worker.py) under
# thaw run from an ImageFS image with empty caches (cold first start, then
# restored starts), against the same worker from the host's own filesystem.
#
# The image holds the files (dpkg -L) of python3, python3-torch and
# python3-numpy and of every package they depend on, recursively, plus the
# worker at /app/worker.py; it is built hard-linked from the machine's own
# files (copied when hard links cannot be made) and pushed into a local
# chunk store.  "Empty caches": the page cache is dropped before the image's
# cold start (echo 3 > /proc/sys/vm/drop_caches), and the image's store is a
# fresh directory, so every byte the start reads comes from the store's
# chunks through the FUSE mount.  Restored starts read no image file but
# what the restore maps.  Times are thaw run's wall time, from its start to
# the worker's exit (the worker prints one line and ends), median of N.
#
#   BUILD=build N=3 bench/run-image.sh     JSON in $BUILD/bench-run-image.json
set -eu
BUILD=${BUILD:-build}
THAW=$(realpath "$BUILD/thaw")
N=${N:-3}
OUT=$(realpath -m "$BUILD/bench-run-image")
TREE=$OUT/tree
WORKER=$(realpath examples/worker.py)
rm -rf "$OUT"
mkdir -p "$OUT"

# the packages and, recursively, what they depend on (alternatives: the first installed)
closure() {
	local todo=("$@") seen=" " p deps d
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		p=${p%%:*}
		case "$seen" in *" $p "*) continue ;; esac
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || continue
		seen="$seen$p "
		deps=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$p" 2>/dev/null |
			tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | grep -v '^$' || true)
		for d in $deps; do todo+=("$d"); done
	done
	echo "$seen"
}
PKGS=$(closure python3 python3-torch python3-numpy)
echo "# image: $(wc -w <<<"$PKGS") packages: $PKGS" >&2
mkdir -p "$TREE"
# merged /usr: /lib64, /lib, /bin ... are links on the host, and so in the image
for d in bin sbin lib lib32 lib64 libx32; do
	[ -L "/$d" ] || continue
	ln -s "$(readlink "/$d")" "$TREE/$d"
	mkdir -p "$TREE/$(readlink -f "/$d")"
done
for p in $PKGS; do
	dpkg -L "$p" 2>/dev/null
done | sort -u | while read -r f; do
	[ -f "$f" ] || [ -L "$f" ] || continue
	printf '%s\0' "$f"
done >"$OUT/files"
# hard links where they can be made; a copy of whatever they could not make
xargs -0 -r cp -a -l --parents -t "$TREE" <"$OUT/files" 2>/dev/null || true
while IFS= read -r -d '' f; do
	[ -e "$TREE$f" ] || [ -L "$TREE$f" ] || cp -a --parents "$f" "$TREE" 2>/dev/null || true
done <"$OUT/files"
# what maintainer scripts made and no package lists: update-alternatives' links
# (libblas.so.3 ...) and the dynamic linker's cache
find /usr/lib/x86_64-linux-gnu /usr/bin -maxdepth 1 -lname '/etc/alternatives/*' -print0 |
	xargs -0 -r cp -a --parents -t "$TREE" 2>/dev/null || true
cp -a --parents /etc/alternatives /etc/ld.so.cache "$TREE" 2>/dev/null || true
mkdir -p "$TREE/app"
cp "$WORKER" "$TREE/app/worker.py"
TREE_BYTES=$(du -sb "$TREE" | awk '{ print $1 }')

t0=$(date +%s.%N)
"$THAW" -q image push "$TREE" --store "$OUT/images" --name torch >"$OUT/push.log"
PUSH_S=$(echo "$(date +%s.%N) - $t0" | bc)
STORE_BYTES=$(du -sb "$OUT/images" | awk '{ print $1 }')

# one start: its wall time in seconds; its stderr in $OUT/last.err
start() {
	local t0 rc
	t0=$(date +%s.%N)
	"$THAW" run "$@" >"$OUT/last.out" 2>"$OUT/last.err" </dev/null
	rc=$?
	grep -q '^ready: ' "$OUT/last.out" || {
		echo "no ready line: $(cat "$OUT/last.out" "$OUT/last.err")" >&2
		exit 1
	}
	[ $rc = 0 ] || { echo "exit $rc: $(cat "$OUT/last.err")" >&2; exit 1; }
	echo "$(date +%s.%N) - $t0" | bc
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# host: page cache warm (a run first), then cold start and restores
start --store "$OUT/warmup" --no-snapshot -- /usr/bin/python3 "$WORKER" >/dev/null
HOST_COLD=$(start --store "$OUT/host" -- /usr/bin/python3 "$WORKER")
HOST_REST=""
for ((i = 0; i < N; i++)); do
	HOST_REST="$HOST_REST $(start --store "$OUT/host" -- /usr/bin/python3 "$WORKER")"
	grep -q 'restored ' "$OUT/last.err" || { echo "host: not restored" >&2; exit 1; }
done

# image: empty caches, cold start (snapshot taken), then restores
sync
echo 3 >/proc/sys/vm/drop_caches
IMG_COLD=$(start --store "$OUT/isnap" --image torch --image-store "$OUT/images" -- \
	/usr/bin/python3 /app/worker.py)
IMG_REST=""
IMG_REST_DROPPED=""
for ((i = 0; i < N; i++)); do
	IMG_REST="$IMG_REST $(start --store "$OUT/isnap" --image torch --image-store "$OUT/images" -- \
		/usr/bin/python3 /app/worker.py)"
	grep -q 'restored ' "$OUT/last.err" || { echo "image: not restored: $(cat "$OUT/last.err")" >&2; exit 1; }
done
for ((i = 0; i < N; i++)); do
	sync
	echo 3 >/proc/sys/vm/drop_caches
	IMG_REST_DROPPED="$IMG_REST_DROPPED $(start --store "$OUT/isnap" --image torch \
		--image-store "$OUT/images" -- /usr/bin/python3 /app/worker.py)"
done

HR=$(median <<<"$HOST_REST")
IR=$(median <<<"$IMG_REST")
IRD=$(median <<<"$IMG_REST_DROPPED")
cat >"$BUILD/bench-run-image.json" <<JSON
{"packages": $(wc -w <<<"$PKGS"), "tree_bytes": $TREE_BYTES, "store_bytes": $STORE_BYTES,
 "push_s": $PUSH_S, "n": $N,
 "host_cold_s": $HOST_COLD, "host_restored_s": $HR,
 "image_cold_empty_caches_s": $IMG_COLD, "image_restored_s": $IR,
 "image_restored_page_cache_dropped_s": $IRD}
JSON
printf '%-52s %8s\n' "start (thaw run wall time, median of $N)" seconds
printf '%-52s %8.3f\n' "host files: cold (page cache warm), snapshot taken" "$HOST_COLD"
printf '%-52s %8.3f\n' "host files: restored" "$HR"
printf '%-52s %8.3f\n' "image: cold, caches empty, snapshot taken" "$IMG_COLD"
printf '%-52s %8.3f\n' "image: restored" "$IR"
printf '%-52s %8.3f\n' "image: restored, page cache dropped" "$IRD"
printf 'image: %d packages, %.0f MiB of files, %.0f MiB stored, pushed in %.1f s\n' \
	"$(wc -w <<<"$PKGS")" "$(echo "$TREE_BYTES / 1048576" | bc -l)" \
	"$(echo "$STORE_BYTES / 1048576" | bc -l)" "$PUSH_S"
