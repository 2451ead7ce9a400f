#!/bin/sh
# Installs the Debian 12 packages thaw needs, only those that are missing.
# Each one is here on purpose:
#   gcc make binutils libc6-dev  the toolchain
#   libjansson-dev               manifest.json (reading and writing)
#   libcmocka-dev                unit tests
#   python3 python3-torch python3-numpy  workload A and the Python tests
#   procps psmisc                ps/pkill-free process checks in tests
set -e
PKGS="gcc make binutils libc6-dev libjansson-dev libcmocka-dev python3 python3-torch python3-numpy procps"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "thaw: missing Debian packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "thaw: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
