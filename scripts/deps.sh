#!/bin/sh
# Installs the Debian 12 packages thaw needs, only those that are missing.
# Each one is here on purpose:
#   gcc make binutils libc6-dev  the toolchain
#   libjansson-dev               manifest.json (reading and writing)
#   libcmocka-dev                unit tests
#   python3 python3-torch python3-numpy  workload A and the Python tests
#   procps                       ps in tests
#   libssl-dev                   SHA-256, AES-256-GCM and HMAC for the store (libcrypto)
#   libzstd-dev liblz4-dev       chunk compression per store tier
#   libcurl4-openssl-dev         the store's HTTP tier (libcurl multi)
#   libexpat1-dev                the S3 tier's XML answers (listings, error codes): a small,
#                                streaming parser whose every text and depth thaw bounds
#   nginx curl                   a real WebDAV server for the store tests, and waiting for it
#   clang libclang-rt-14-dev     make fuzz: the fuzz targets under libFuzzer
#   libmicrohttpd-dev            thaw serve's client side: streams request bodies to the handler
#                                (docs/serve.md says why this library); dlopen'd by serve only
#   pkgconf                      tests/integration/18-install.sh builds a program against thaw.pc
#   radosgw ceph-mon ceph-osd ceph-common  a real S3 server for the store's S3 tests: Ceph's
#                                gateway on a one-node cluster with a memstore OSD, which
#                                checks every SigV4 signature and honours If-None-Match
#                                (tests/store/rgw.sh; docs/store.md says why not a fake)
#   libfuse3-dev fuse3           ImageFS: images served as a FUSE filesystem (fusermount3 to
#                                unmount)
# and only in CI (CI=true), for tests/integration/19-deb.sh:
#   debhelper dpkg-dev           dpkg-buildpackage of debian/ (the package's build dependencies
#                                are the ones above)
set -e
PKGS="gcc make binutils libc6-dev libjansson-dev libcmocka-dev python3 python3-torch python3-numpy procps
	libssl-dev libzstd-dev liblz4-dev libcurl4-openssl-dev libexpat1-dev nginx curl clang libclang-rt-14-dev
	libmicrohttpd-dev"
PKGS="$PKGS pkgconf radosgw ceph-mon ceph-osd ceph-common libfuse3-dev fuse3"
[ "${CI:-}" = true ] && PKGS="$PKGS debhelper dpkg-dev"
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
