#!/bin/bash
# image.sh - `make bench-image`: ImageFS against the host's own files.
#
# Image A: the files of Debian's python3 and python3-torch and of every
# package they depend on, with their install-time bytecode (bench/image-tree.py
# says exactly what), pushed to nginx on 127.0.0.1 (WebDAV, as the store's
# HTTP tests).  Timed: /usr/bin/python3 -c "import torch"
#   (a) on the host, page cache warm;   (b) on the host after drop_caches;
#   (c) ImageFS, empty caches, no prefetch;  (d) the same with the recorded start prefetched;
#   (e) ImageFS, disk cache warm, page cache dropped;  (f) ImageFS fully warm.
# ImageFS runs chroot into the mount (with /proc, /dev and /sys bound in a
# private mount namespace); the same harness on tree A itself, warm, is
# shown beside (a) so that its own cost is seen.  Also: the bytes fetched from nginx in (c) and
# (d) against the image's stored size, the HTTP tier's rate (every chunk of
# the image fetched once), and the stored bytes of image B, which shares
# the torch files with A (B: python3-torch, python3-scipy if installed,
# nginx and curl).  Times are the median of RUNS (default 3; the cases of a
# run follow one another, so that each run sees the machine's load alike;
# (a) and (b) are timed twice a run, the second time right after (f) and (e),
# which they are the targets of).
# Writes $BUILD/bench-image.json and prints a table.
# Drops the page cache (echo 3 > /proc/sys/vm/drop_caches): run as root.
. "$(dirname "$0")/../tests/lib.sh"
. "$(dirname "$0")/../tests/store/nginx.sh"
. "$(dirname "$0")/../tests/imagefs/imagefs-lib.sh"
need_fuse
RUNS=${RUNS:-3}
PY=/usr/bin/python3
IMPORT='import torch'
nginx_start
U=$NGINX_URL
ACCESS=$TMP/nginx/access.log
RES=$TMP/results
: >"$RES"

now() { date +%s.%N; }
# timed NAME CMD...: seconds of one run into $RES as "NAME SECONDS"
timed() {
	local name=$1 s e
	shift
	s=$(now)
	"$@" >/dev/null 2>>"$TMP/run.err" || fail "$name: $* failed: $(tail -n 3 "$TMP/run.err")"
	e=$(now)
	echo "$name $(echo "$e - $s" | bc)" >>"$RES"
}
in_image() {
	unshare -m sh -c "mount -t proc proc '$1/proc' && mount --rbind /dev '$1/dev' &&
		mount --rbind /sys '$1/sys' && chroot '$1' $PY -c '$IMPORT'"
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
fetched() { awk '$7 ~ /^\/store\/chunks\// && $9 == 200 {b += $10} END {print b + 0}' "$ACCESS"; }
stored() { du -sb "$TMP/www/store/chunks" | cut -f1; }

log "building the trees"
python3 "$(dirname "$0")/image-tree.py" "$TMP/rootA" python3 python3-torch >"$TMP/treeA.json" ||
	fail "tree A"
extra=""
dpkg-query -W -f='${Status}' python3-scipy 2>/dev/null | grep -q "ok installed" && extra=python3-scipy
python3 "$(dirname "$0")/image-tree.py" "$TMP/rootB" python3-torch $extra nginx curl \
	>"$TMP/treeB.json" || fail "tree B"

log "pushing image A"
s=$(now)
"$THAW" image push "$TMP/rootA" --store "$U" --cache "$TMP/cpush" --name a >"$TMP/pushA.log" 2>&1 ||
	fail "push A: $(tail -n 3 "$TMP/pushA.log")"
push_a=$(echo "$(now) - $s" | bc)
stored_a=$(stored)
"$THAW" image push "$TMP/rootB" --store "$U" --cache "$TMP/cpush" --name b >"$TMP/pushB.log" 2>&1 ||
	fail "push B: $(tail -n 3 "$TMP/pushB.log")"
stored_b=$(($(stored) - stored_a))

log "the HTTP tier's rate: every chunk of A once"
drop
s=$(now)
"$THAW" store verify image:a --store "$U" --cache "$TMP/cverify" >"$TMP/verify.log" 2>&1 ||
	fail "verify: $(tail -n 3 "$TMP/verify.log")"
http_s=$(echo "$(now) - $s" | bc)

log "recording the start"
mkdir -p "$TMP/rec"
MOUNTS+=("$TMP/rec")
"$THAW" image record --store "$U" --cache "$TMP/crec" --name a "$TMP/rec" -- \
	bash -c "$(declare -f in_image); PY=$PY IMPORT='$IMPORT' in_image '$TMP/rec'" \
	>"$TMP/record.log" 2>&1 || fail "record: $(tail -n 3 "$TMP/record.log")"

for r in $(seq 1 "$RUNS"); do
	log "run $r"
	timed a0 $PY -c "$IMPORT"
	timed a $PY -c "$IMPORT"
	timed a1 in_image "$TMP/rootA"
	drop
	timed b $PY -c "$IMPORT"
	# (c): empty caches, no prefetch
	rm -rf "$TMP/cc"
	drop
	: >"$ACCESS"
	img_mount "$TMP/mc.log" "$TMP/mc" --store "$U" --cache "$TMP/cc" --name a --no-prefetch
	timed c in_image "$TMP/mc"
	echo "fetched_c $(fetched)" >>"$RES"
	img_ok umount "$TMP/mc"
	# (d): empty caches, the recorded start prefetched
	rm -rf "$TMP/cd"
	drop
	: >"$ACCESS"
	img_mount "$TMP/md.log" "$TMP/md" --store "$U" --cache "$TMP/cd" --name a
	timed d in_image "$TMP/md"
	echo "fetched_d $(fetched)" >>"$RES"
	# (f): the same mount again, everything warm; (a) again beside it
	timed f in_image "$TMP/md"
	timed a $PY -c "$IMPORT"
	img_ok umount "$TMP/md"
	# (e): the disk cache of (d) warm, page cache dropped, a new mount
	drop
	img_mount "$TMP/me.log" "$TMP/me" --store "$U" --cache "$TMP/cd" --name a
	timed e in_image "$TMP/me"
	img_ok umount "$TMP/me"
	drop # (b) again beside it
	timed b $PY -c "$IMPORT"
done

python3 - "$RES" "$TMP/treeA.json" "$TMP/treeB.json" "$BUILD/bench-image.json" <<PY
import json, sys
res = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    res.setdefault(k, []).append(float(v))
tree_a, tree_b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
best = {k: sorted(v)[(len(v) - 1) // 2] for k, v in res.items()}  # the median
rate = $stored_a / $http_s
out = {
    "machine": "$(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r)",
    "runs": $RUNS, "image_a": tree_a, "image_b": tree_b,
    "image_a_stored_bytes": $stored_a, "image_b_stored_bytes": $stored_b,
    "push_a_seconds": $push_a, "http_rate_bytes_per_s": rate,
    "seconds": {k: best[k] for k in "abcdef"}, "host_tree_chroot_seconds": best["a1"],
    "all_runs": res,
    "fetched_c_bytes": int(best["fetched_c"]), "fetched_d_bytes": int(best["fetched_d"]),
}
b = best
targets = [
    ("(f) <= 1.1 x (a)", b["f"], 1.1 * b["a"]),
    ("(e) <= 1.5 x (b)", b["e"], 1.5 * b["b"]),
    ("(d) <= 2 x (b) + fetched(d) / rate", b["d"], 2 * b["b"] + out["fetched_d_bytes"] / rate),
    ("(c) fetches < 1/3 of the image", out["fetched_c_bytes"], $stored_a / 3),
    ("B stores <= 10% of its size", $stored_b, 0.1 * tree_b["bytes"]),
]
out["targets"] = [{"target": t, "measured": m, "limit": l, "met": m <= l} for t, m, l in targets]
json.dump(out, open(sys.argv[4], "w"), indent=1)
print("image A: %d packages, %d files, %.0f MB; stored (zstd) %.0f MB; push %.1f s" %
      (tree_a["packages"], tree_a["files"], tree_a["bytes"] / 1e6, $stored_a / 1e6, $push_a))
print("image B: %d packages, %d files, %.0f MB; stored beyond A: %.1f MB (%.1f%%)" %
      (tree_b["packages"], tree_b["files"], tree_b["bytes"] / 1e6, $stored_b / 1e6,
       100.0 * $stored_b / tree_b["bytes"]))
print("HTTP tier: %.0f MB/s (every chunk of A once, %.1f s)" % (rate / 1e6, $http_s))
names = {"a": "host, page cache warm", "b": "host, page cache dropped",
         "c": "ImageFS, empty caches, no prefetch", "d": "ImageFS, empty caches, prefetch",
         "e": "ImageFS, disk cache warm, page cache dropped", "f": "ImageFS, fully warm"}
print("%-48s %8s   (all runs)" % ('python3 -c "import torch"', "median s"))
for k in "abcdef":
    print("(%s) %-44s %8.2f   %s" % (k, names[k], best[k], " ".join("%.2f" % x for x in res[k])))
    if k == "a":
        print("    %-44s %8.2f   %s" % ("host tree A, the chroot harness of (c)-(f)", best["a1"],
                                        " ".join("%.2f" % x for x in res["a1"])))
print("fetched in (c): %.1f MB, in (d): %.1f MB, of %.0f MB stored" %
      (out["fetched_c_bytes"] / 1e6, out["fetched_d_bytes"] / 1e6, $stored_a / 1e6))
for t in out["targets"]:
    print("%-40s measured %12.2f  limit %12.2f  %s" % (t["target"], t["measured"], t["limit"],
                                                        "met" if t["met"] else "MISSED"))
PY
pass
