#!/bin/bash
# 00-layers.sh - no layer includes a header of a layer above it, or of one
# beside it that it must not know (DESIGN.md, "Layers"): the store knows
# bytes, not processes, so it includes neither engine nor image; the image
# format knows no ptrace; the GPU layer calls nothing above it; the repository
# (src/repo/), where snapshots meet the store, sits above engine and store.
set -u
cd "$(dirname "$0")/../.." || exit 1
# layer: the layers (besides itself) whose headers it may include
allowed() {
	case $1 in
	base) echo "" ;;
	image) echo "base" ;;
	gpu) echo "base image" ;;
	engine) echo "base image gpu restorer" ;;
	store) echo "base" ;;
	repo) echo "base image gpu engine store" ;;
	imagefs) echo "base store" ;;
	runtime) echo "base image gpu engine store repo imagefs" ;;
	serve) echo "base image gpu engine store repo imagefs runtime" ;;
	cli) echo "base image gpu engine store repo imagefs runtime serve" ;;
	*) echo "?" ;;
	esac
}
bad=0
for f in $(find src -name '*.[ch]' | sort); do
	layer=$(echo "$f" | cut -d/ -f2)
	ok=" $layer $(allowed "$layer") "
	while read -r inc; do
		[[ $ok == *" ${inc%%/*} "* ]] && continue
		echo "FAIL: $f includes \"$inc\": layer $layer may include only:$ok"
		bad=1
	done < <(sed -n 's/^#include "\([a-z]*\/[^"]*\)".*/\1/p' "$f")
	# a path that climbs out of the file's folder would pass the check above unseen
	if grep -q '^#include "[^"]*\.\./' "$f"; then
		echo "FAIL: $f includes a header by a path with ..: name it by its layer"
		bad=1
	fi
done
[ $bad = 0 ] && echo PASS
exit $bad
