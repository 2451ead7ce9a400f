#!/bin/sh
# The restorer blob runs wherever it is copied: it must carry no relocations
# and no sections outside .blob that hold code or data.
set -e
elf="$1"
if readelf -r "$elf" | grep -q 'R_X86_64'; then
	echo "restorer blob $elf has relocations:" >&2
	readelf -r "$elf" >&2
	exit 1
fi
