#!/bin/sh
# build.sh OUTDIR [CFLAGS...] - builds OUTDIR/thaw (store commands only) and
# OUTDIR/test-store from the store sources, for working on the store before
# the Makefile builds it.  Sanitized: build.sh OUTDIR -fsanitize=address,undefined
set -e
cd "$(dirname "$0")/../.."
out=$1
shift
mkdir -p "$out"
CF="-std=gnu11 -D_GNU_SOURCE -Isrc -Wall -Wextra -Werror -Wno-missing-field-initializers -O2 -g $*"
LIBS="-ljansson -lcrypto -lzstd -llz4 -lcurl"
gcc $CF -o "$out/thaw" tests/store/store-main.c src/cli/cmd-store.c src/store/*.c src/base/log.c src/base/curl-dl.c $LIBS
gcc $CF -o "$out/test-store" tests/unit/test-store.c src/store/*.c src/base/log.c src/base/curl-dl.c $LIBS -lcmocka
