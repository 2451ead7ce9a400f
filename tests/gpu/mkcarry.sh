#!/bin/bash
# mkcarry.sh [DIR] - builds thaw here with an $ORIGIN/lib run path and copies
# it, libthaw (.a and .so) and every shared library thaw needs (but glibc's) into DIR (default
# build/gpu-carry), for a machine that has the driver but not thaw's -dev
# packages (the device machine): carry DIR there and run DIR/thaw.
set -eu
dir=${1:-build/gpu-carry}
rm -f build/gpu/thaw
make -j"$(nproc)" BUILD=build/gpu "LDFLAGS=-Wl,--disable-new-dtags,-rpath,'\$\$ORIGIN/lib'" build/gpu/thaw
# libthaw for the GPU weights region's tests (weights-graph links it, torch loads the .so)
make -j"$(nproc)" BUILD=build/gpu build/gpu/libthaw.a build/gpu/libthaw.so
rm -rf "$dir"
mkdir -p "$dir/lib" "$dir/tests/programs"
cp build/gpu/thaw build/gpu/libthaw.a build/gpu/libthaw.so "$dir/"
for l in $(ldd build/gpu/thaw | awk '/=>/ { print $3 }'); do
	case $l in
	*/libc.so.* | */libresolv.so.* | */libm.so.* | */libpthread.so.* | */libdl.so.*) ;;
	*) cp -L "$l" "$dir/lib/" ;;
	esac
done
# thaw serve dlopens libmicrohttpd (found through the same run path): it and its libraries too
mhd=/usr/lib/x86_64-linux-gnu/libmicrohttpd.so.12
if [ -e "$mhd" ]; then
	cp -L "$mhd" "$dir/lib/"
	for l in $(ldd "$mhd" | awk '/=>/ { print $3 }'); do
		case $l in
		*/libc.so.* | */libresolv.so.* | */libm.so.* | */libpthread.so.* | */libdl.so.*) ;;
		*) cp -L "$l" "$dir/lib/" ;;
		esac
	done
fi
readelf -d "$dir/thaw" | grep -q 'ORIGIN/lib' || { echo "no run path in $dir/thaw" >&2; exit 1; }
