#!/bin/bash
# 59-run-image-nodev.sh - an image's device nodes and setuid bits stay
# inert under thaw run --image, as on its FUSE mount (nosuid,nodev,
# docs/imagefs.md): the overlay thaw run puts on top of the image is a mount
# of its own, and without those flags a program could open a device node
# the image brought (a disk of the host's, mode 0666) or gain a setuid
# file's owner.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../imagefs/imagefs-lib.sh"
need_fuse
STORE=$TMP/store
ISTORE=$TMP/images
ROOT=$TMP/root

for tool in sh cat; do
	copy_in "$ROOT" "$(command -v $tool)" "/bin/$tool"
done
# a device the image brings: /dev/null's numbers, so that an open that works reads nothing
mknod -m 0666 "$ROOT/disk" c 1 3
"$THAW" image push "$ROOT" --store "$ISTORE" --name nodev >"$TMP/push.log" 2>&1 ||
	fail "push: $(cat "$TMP/push.log")"

for keep in 0 600; do
	"$THAW" run --store "$STORE" --no-snapshot --image nodev --image-store "$ISTORE" \
		--image-keep $keep -- /bin/sh -c \
		'cat /disk && echo opened; while read -r _ _ _ _ mp opts _; do [ "$mp" = / ] && echo "root $opts"; done </proc/self/mountinfo' \
		>"$TMP/run.out" 2>"$TMP/run.err" </dev/null
	log "keep $keep: $(cat "$TMP/run.out" "$TMP/run.err")"
	grep -q opened "$TMP/run.out" && fail "keep $keep: the program opened the image's device node"
	grep -q "Permission denied" "$TMP/run.err" || fail "keep $keep: $(cat "$TMP/run.err")"
	opts=$(sed -n 's/^root //p' "$TMP/run.out")
	case ",$opts," in
	*,nosuid,*) ;;
	*) fail "keep $keep: the program's root is mounted $opts, not nosuid" ;;
	esac
	case ",$opts," in
	*,nodev,*) ;;
	*) fail "keep $keep: the program's root is mounted $opts, not nodev" ;;
	esac
	if [ $keep = 600 ]; then
		SHARED=$(sed -n 's|.*image nodev mounted at \(/run/thaw/images/[0-9a-f]*\) .*|\1|p' "$TMP/run.err")
		[ -n "$SHARED" ] && MOUNTS+=("$SHARED") && track "$(cat "$SHARED.pid")"
	fi
done
pass
