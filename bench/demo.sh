#!/bin/sh
# demo.sh - `make demo`: starts workload A (python3 importing torch, building
# and warming an MLP) cold, snapshots it with `thaw dump`, restores it three
# times, checks each restored copy's answer is bit-identical to the cold
# run's and prints cold start against each restore.  bench/driver.py --demo
# does the work; the snapshot is left in $BUILD/demo-snapshot.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
exec /usr/bin/python3 bench/driver.py --build "$BUILD" --demo "$@"
