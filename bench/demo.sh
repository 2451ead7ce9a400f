#!/bin/sh
# demo.sh - `make demo`, in two parts.
#
# 1. The engine: starts workload A (python3 importing torch, building and
#    warming an MLP) cold, snapshots it with `thaw dump`, restores it three
#    times, checks each restored copy's answer is bit-identical to the cold
#    run's and prints cold start against each restore (bench/driver.py
#    --demo; the snapshot is left in $BUILD/demo-snapshot).
# 2. The runtime: `thaw run -- /usr/bin/python3 examples/worker.py` into a
#    fresh store ($BUILD/demo-run-store): the first start is cold and
#    snapshots at the worker's snapshot point, the next three are restored;
#    prints command start to first output for each, and checks the first
#    line after the snapshot point is the same on every start (bench/run.py
#    --demo).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
/usr/bin/python3 bench/driver.py --build "$BUILD" --demo "$@"
exec /usr/bin/python3 bench/run.py --build "$BUILD" --demo
