# imagefs-lib.sh - helpers the ImageFS tests source after tests/lib.sh.
# Every mount a test makes is unmounted when the script exits, whatever the
# path out (then lib.sh kills the servers by PID).
IMAGEFS_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOUNTS=()

imagefs_cleanup() {
	local rc=$? m
	for m in "${MOUNTS[@]}"; do
		umount -l "$m" 2>/dev/null
	done
	(exit $rc)
	cleanup
}
trap imagefs_cleanup EXIT

need_fuse() {
	need_thaw
	[ "$(id -u)" = 0 ] || skip "ImageFS tests run as root"
	[ -c /dev/fuse ] || skip "no /dev/fuse"
}

# img ARGS...: thaw image, stdout+stderr in $TMP/img.log; returns its status.
img() {
	"$THAW" image "$@" >"$TMP/img.log" 2>&1
	local rc=$?
	log "thaw image $* -> $rc"
	return $rc
}

img_ok() {
	img "$@" || fail "thaw image $* failed: $(tail -n 5 "$TMP/img.log")"
}

# img_mount LOG MOUNTPOINT ARGS...: mounts (the server logs to LOG); sets SERVER_PID.
img_mount() {
	local logf=$1 mp=$2
	shift 2
	mkdir -p "$mp"
	MOUNTS+=("$mp")
	"$THAW" image mount "$@" "$mp" >"$TMP/mount.out" 2>>"$logf" ||
		fail "thaw image mount $* $mp failed: $(tail -n 5 "$logf")"
	SERVER_PID=$(sed -n 's/.*server pid \([0-9]*\).*/\1/p' "$TMP/mount.out")
	track "$SERVER_PID"
	log "mounted $mp, server $SERVER_PID"
}

# is_mounted DIR: DIR is a mount point now
is_mounted() {
	grep -q " $(realpath -m "$1") " /proc/self/mountinfo
}

# read_all DIR OUT: reads every regular file under DIR; OUT gets "path: ok|error".
read_all() {
	python3 - "$1" >"$2" <<'PY'
import os, sys
for d, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        try:
            with open(p, "rb") as fh:
                while fh.read(1 << 20):
                    pass
            print("%s: ok" % os.path.relpath(p, sys.argv[1]))
        except OSError as e:
            print("%s: error %s" % (os.path.relpath(p, sys.argv[1]), e.strerror))
PY
}
