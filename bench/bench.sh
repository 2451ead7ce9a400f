#!/bin/sh
# bench.sh - `make bench`: builds the benchmark helpers (workload B and the
# copy-ceiling probe) into $BUILD/bench/ and runs every workload through
# bench/driver.py, which prints the table and writes $BUILD/bench.json.
# Extra arguments go to the driver: --runs N, --only a|b, --size-gib N.
# Then bench/run.py measures `thaw run -- /usr/bin/python3 examples/worker.py`
# end to end, cold against restored (median of 5), into $BUILD/bench-run.json.
# Then bench/store.py: snapshot bytes through the store (zero elision,
# compression, dedup) and restore throughput from each store tier next to a
# plain directory, into $BUILD/bench-store.json.
# Then bench/tree.py: restore of an 8-process tree against one process of the
# same total memory (median of 5), into $BUILD/bench-tree.json.
# Then bench/dump.py: `thaw dump` of workload A against `criu dump` of the same
# process when criu is installed (left out, with the reason, when it is not
# or cannot dump here), medians of 7, into $BUILD/bench-dump.json.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CC=${CC:-gcc}
mkdir -p "$BUILD/bench"
# Plain optimised builds, never sanitized: they are what gets measured.
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -pthread \
	-o "$BUILD/bench/workload-b" bench/workload-b.c
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$BUILD/bench/ceiling" bench/ceiling.c
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -o "$BUILD/bench/tree" bench/tree.c
rc=0
/usr/bin/python3 bench/driver.py --build "$BUILD" "$@" || rc=$?
/usr/bin/python3 bench/run.py --build "$BUILD" || rc=$?
/usr/bin/python3 bench/store.py --build "$BUILD" || rc=$?
/usr/bin/python3 bench/tree.py --build "$BUILD" || rc=$?
/usr/bin/python3 bench/dump.py --build "$BUILD" || rc=$?
exit $rc
