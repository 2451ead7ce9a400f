#!/usr/bin/python3
"""ab.py - restore time of workload A with two thaw binaries, in one run.

Compares thaw A (--a, e.g. a build of an older commit) with thaw B (--b) on
the same machine and in the same run: each round starts workload A cold,
dumps it with one binary and restores that snapshot --restores times with
the same binary, then does the same with the other binary; the order of the
two alternates from round to round, so that drift of the machine (page
cache, frequency, the other VM on the host) falls on both alike.  Each
binary restores only its own snapshots (their formats may differ).

Figure: `thaw restore --detach` from launch to exit, when the program runs
again (driver.py's restore_running_again_ms); every restored copy must give
the cold run's answer byte for byte.  Prints the medians and B/A, and writes
every raw figure as JSON (--json, default BUILD/bench-ab.json).

    bench/ab.py --a old/thaw --b build/thaw [--rounds 7] [--restores 3]
                [--python /usr/bin/python3] [--verify]

--verify adds `--verify` to B's restores (the cost of restore --verify).
Python standard library only; every process it starts is killed by PID.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402  (the workload, dump and restore steps)


def one(wl, opts, thaw, tag, extra):
    """Cold start, dump with thaw, restore --restores times; returns the restore times."""
    opts.thaw = thaw
    snap = os.path.join(opts.workdir, f"snap-{tag}")
    driver.rm_snapshot(snap)
    times = []
    try:
        p, err, cold = driver.cold_start(wl, opts)
        driver.dump(p, err, snap, opts)
        for i in range(opts.restores):
            r = restore(wl, snap, opts, f"{tag}-{i}", extra)
            if r["answer_detached"] != cold["answer"]:
                raise driver.BenchError(f"{tag}: restored copy answered "
                                        f"{r['answer_detached']!r}, cold {cold['answer']!r}")
            times.append(r["restore_running_again_ms"])
    finally:
        driver.rm_snapshot(snap)
    return times


def restore(wl, snap, opts, tag, extra):
    if not extra:
        return driver.restore_detached(wl, snap, opts, tag)
    # driver's restore with extra arguments: wrap the binary in a tiny script
    wrapper = os.path.join(opts.workdir, "thaw-extra")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec {opts.thaw} \"$@\" {' '.join(extra)}\n")
    os.chmod(wrapper, 0o700)
    real, opts.thaw = opts.thaw, wrapper
    try:
        return driver.restore_detached(wl, snap, opts, tag)
    finally:
        opts.thaw = real


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="thaw binary A (the reference)")
    ap.add_argument("--b", required=True, help="thaw binary B")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--restores", type=int, default=3, help="restores per snapshot")
    ap.add_argument("--python", default="/usr/bin/python3", help="python with torch")
    ap.add_argument("--verify", action="store_true", help="B restores with --verify")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--json", default=os.path.join(os.environ.get("BUILD", "build"),
                                                   "bench-ab.json"))
    opts = ap.parse_args()
    wl = {"key": "a", "name": "A python3+torch MLP",
          "argv": [opts.python, os.path.join(driver.ROOT, "bench", "workload_a.py")]}
    times = {"a": [], "b": []}
    with tempfile.TemporaryDirectory(prefix="thaw-ab-") as work:
        opts.workdir = work
        try:
            for r in range(opts.rounds):
                order = ("a", "b") if r % 2 == 0 else ("b", "a")
                for which in order:
                    thaw = opts.a if which == "a" else opts.b
                    extra = ["--verify"] if which == "b" and opts.verify else []
                    print(f"  round {r + 1}/{opts.rounds}: {which}", file=sys.stderr,
                          flush=True)
                    times[which] += one(wl, opts, thaw, f"{which}{r}", extra)
        finally:
            driver.PROCS.kill_all()
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"a": opts.a, "b": opts.b, "b_verify": opts.verify, "python": opts.python,
              "rounds": opts.rounds, "restores": opts.restores, "restore_ms": times,
              "median_ms": med, "b_over_a": med["b"] / med["a"],
              "machine": driver.machine_info()}
    os.makedirs(os.path.dirname(os.path.abspath(opts.json)), exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"restore of workload A, time to running again, median of {len(times['a'])}:")
    print(f"  A {opts.a}: {med['a']:.1f} ms")
    print(f"  B {opts.b}{' --verify' if opts.verify else ''}: {med['b']:.1f} ms")
    print(f"  B/A: {result['b_over_a']:.3f}   (raw figures in {opts.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
