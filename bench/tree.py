#!/usr/bin/python3
"""tree.py - `make bench`, the process-tree part (issue 5): does a tree of 8
processes restore in the same order of time as one process holding the same
total memory?

Workload: bench/tree.c (built by bench.sh into BUILD/bench/tree): N processes,
the root and N-1 children, each filling MIB/N MiB of private anonymous memory
with incompressible bytes; READY once all are filled; each line on its stdin
makes every process check its bytes against its checksum, and the root
answers "OK N".

For N = --procs (default 8) and N = 1, same --mib (default 1024):
  1. cold start (to READY), one check answered, the tree's shape checked
     (N-1 children under the root);
  2. `thaw dump` (kills the tree): time, snapshot bytes;
  3. --runs times (default 5), the two shapes alternating so that a change
     in the machine's load falls on both alike: `thaw restore --detach
     --pidfile`, timed from launch to thaw's exit (the tree runs again); then,
     untimed, the tree's shape is checked again and the restored copy is asked
     to check its bytes ("OK N" or the run fails); then it is killed by PID
     (its namespace init, then the root).
Reported: median (min-max) of the restore times per N, snapshot MB and GB/s
(snapshot bytes / median time), and the ratio tree/single.  Snapshots are
read from the page cache (warm), as in bench/driver.py.

Output: a table on stdout and JSON (--json, default BUILD/bench-tree.json)
with every run and machine info.  Every process started here is killed by
PID on every way out.  Python standard library only; process helpers are
bench/driver.py's.  Units: ms of wall time, MB = 1e6 bytes, GB/s = 1e9 B/s.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402
from driver import BenchError, Drain, LineReader, PROCS, indent, median, ms, now  # noqa: E402

ROOT = driver.ROOT


def parse_args(argv):
    ap = argparse.ArgumentParser(description="thaw process-tree restore bench")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"),
                    help="build directory (default $BUILD or build)")
    ap.add_argument("--thaw", help="thaw binary (default BUILD/thaw)")
    ap.add_argument("--procs", type=int, default=8, help="processes in the tree (default 8)")
    ap.add_argument("--mib", type=int, default=1024,
                    help="total MiB of memory, split over the processes (default 1024)")
    ap.add_argument("--runs", type=int, default=5, help="restores per shape (default 5)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per step")
    ap.add_argument("--json", help="output file (default BUILD/bench-tree.json)")
    opts = ap.parse_args(argv)
    if not 2 <= opts.procs <= 256:
        ap.error("--procs must be between 2 and 256")
    if not 1 <= opts.runs <= 101:
        ap.error("--runs must be between 1 and 101")
    if opts.mib < opts.procs:
        ap.error("--mib must be at least --procs")
    opts.build = os.path.abspath(opts.build)
    opts.thaw = os.path.abspath(opts.thaw or os.path.join(opts.build, "thaw"))
    opts.json = os.path.abspath(opts.json or os.path.join(opts.build, "bench-tree.json"))
    opts.workdir = os.path.join(opts.build, "bench-work")
    opts.prog = os.path.join(opts.build, "bench", "tree")
    return opts


def start_piped(argv):
    return PROCS.popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, start_new_session=True)


def ask(p, out, nprocs, what, opts):
    """One check: every process of the tree holds its bytes."""
    p.stdin.write(b"check\n")
    p.stdin.flush()
    line = out.readline(opts.timeout, what)
    if line != "OK %d" % nprocs:
        raise BenchError("%s: answered %r, want 'OK %d'" % (what, line, nprocs))


def check_shape(root, nprocs, what):
    kids = driver.descendants(root)
    live = [k for k in kids if driver.pid_alive(k)]
    if len(live) != nprocs - 1:
        raise BenchError("%s: root %d has %d live descendants %s, want %d"
                         % (what, root, len(live), kids, nprocs - 1))
    return kids


def parent_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def kill_restored(pid, opts):
    """Kills a restored tree by PID: its namespace init (thaw), then the root and the rest."""
    init = parent_of(pid)
    others = driver.descendants(pid)
    if init and init > 1 and os.path.realpath("/proc/%d/exe" % init) == os.path.realpath(opts.thaw):
        driver.kill_pid(init)
    driver.kill_pid(pid)
    for k in others:
        driver.kill_pid(k)
    PROCS.pids.discard(pid)


def cold_and_dump(nprocs, opts, snap):
    driver.rm_snapshot(snap)
    t0 = now()
    p = start_piped([opts.prog, str(nprocs), str(opts.mib)])
    err = Drain(p.stderr)
    out = LineReader(p.stdout)
    try:
        line = out.readline(opts.timeout, "tree %d: cold start" % nprocs)
        t_ready = now()
        if line != "READY":
            raise BenchError("tree %d: expected READY, got %r" % (nprocs, line))
        ask(p, out, nprocs, "tree %d: cold check" % nprocs, opts)
        kids = check_shape(p.pid, nprocs, "tree %d: cold" % nprocs)
        t1 = now()
        r = subprocess.run([opts.thaw, "dump", "--pid", str(p.pid), "--dir", snap],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=opts.timeout)
        t2 = now()
        if r.returncode != 0:
            raise BenchError("thaw dump of the %d-process tree failed (exit %d):\n%s"
                             % (nprocs, r.returncode, indent(driver.tail(r.stderr))))
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise BenchError("thaw dump exited 0 but left the root %d running" % p.pid)
        for k in kids:
            deadline = now() + 10
            while driver.pid_alive(k) and now() < deadline:
                time.sleep(0.01)
            if driver.pid_alive(k):
                raise BenchError("thaw dump exited 0 but left process %d of the tree" % k)
    except BenchError as e:
        for k in driver.descendants(p.pid):
            driver.kill_pid(k)
        PROCS.kill(p)
        raise BenchError("%s\n  program stderr:\n%s" % (e, indent(err.tail())))
    PROCS.kill(p)
    return {"cold_ready_ms": ms(t0, t_ready), "dump_ms": ms(t1, t2),
            "snapshot_bytes": driver.dir_bytes(snap)}


def restore_once(nprocs, opts, snap, index):
    pidfile = os.path.join(opts.workdir, "tree-%d-%d.pid" % (nprocs, index))
    driver.rm_f(pidfile)
    t0 = now()
    p = start_piped([opts.thaw, "restore", "--dir", snap, "--detach", "--pidfile", pidfile])
    err = Drain(p.stderr)
    out = LineReader(p.stdout)
    pid = None
    try:
        try:
            rc = driver.wait_exact(p, opts.timeout)
        except subprocess.TimeoutExpired:
            raise BenchError("thaw restore --detach: not back within %.0f s" % opts.timeout)
        t1 = now()
        pid = driver.read_pidfile(pidfile, 2.0)
        if pid is not None:
            PROCS.adopt(pid)
        if rc != 0:
            raise BenchError("thaw restore --detach of the %d-process tree failed (exit %d)"
                             % (nprocs, rc))
        if pid is None:
            raise BenchError("thaw restore --detach exited 0 but wrote no PID")
        check_shape(pid, nprocs, "tree %d: restore %d" % (nprocs, index))
        # the restored root reads thaw restore's stdin pipe and writes to its stdout pipe
        ask(p, out, nprocs, "tree %d: restored copy %d" % (nprocs, index), opts)
    except (BenchError, OSError) as e:
        raise BenchError("%s\n  thaw/program stderr:\n%s" % (e, indent(err.tail())))
    finally:
        if pid is not None:
            kill_restored(pid, opts)
        PROCS.kill(p)
        driver.rm_f(pidfile)
    return ms(t0, t1)


def bench_shapes(opts):
    """Both shapes dumped first, then their restores alternate (tree, single, tree, ...),
    so that a change in the machine's load over the run falls on both alike."""
    shapes = []
    snaps = []
    try:
        for nprocs in (opts.procs, 1):
            snap = os.path.join(opts.workdir, "tree-%d.snap" % nprocs)
            snaps.append(snap)
            figures = cold_and_dump(nprocs, opts, snap)
            figures.update({"procs": nprocs, "mib": opts.mib, "restore_ms": []})
            shapes.append(figures)
        for i in range(opts.runs):
            for figures, snap in zip(shapes, snaps):
                figures["restore_ms"].append(restore_once(figures["procs"], opts, snap, i))
    finally:
        for snap in snaps:
            driver.rm_snapshot(snap)
    for figures in shapes:
        runs = figures["restore_ms"]
        figures["restore_median_ms"] = median(runs)
        figures["restore_gb_per_s"] = round(figures["snapshot_bytes"] / 1e9 /
                                            (figures["restore_median_ms"] / 1000.0), 3)
        print("  %d process%s: restores %s ms" % (figures["procs"],
                                                 "es" if figures["procs"] > 1 else "",
                                                 ", ".join("%.1f" % r for r in runs)),
              file=sys.stderr)
    return shapes


def table(shapes, ratio):
    rows = [("shape", "procs", "MiB", "snapshot MB", "dump ms", "restore ms median (min-max)",
             "GB/s")]
    for s in shapes:
        rows.append(("tree" if s["procs"] > 1 else "single", str(s["procs"]), str(s["mib"]),
                     "%.0f" % (s["snapshot_bytes"] / 1e6), "%.0f" % s["dump_ms"],
                     "%.1f (%.1f-%.1f)" % (s["restore_median_ms"], min(s["restore_ms"]),
                                           max(s["restore_ms"])),
                     "%.2f" % s["restore_gb_per_s"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    print("restore time, %d-process tree / one process of the same memory: %.2fx"
          % (shapes[0]["procs"], ratio))


def main(argv):
    opts = parse_args(argv)
    for path in (opts.thaw, opts.prog):
        if not os.access(path, os.X_OK):
            print("thaw bench tree: %s is missing (bench/bench.sh builds it)" % path,
                  file=sys.stderr)
            return 2
    os.makedirs(opts.workdir, mode=0o700, exist_ok=True)
    signal.signal(signal.SIGTERM, driver.on_sigterm)
    try:
        print("process trees: %d processes vs 1, %d MiB in all, median of %d restores"
              % (opts.procs, opts.mib, opts.runs), file=sys.stderr)
        shapes = bench_shapes(opts)
        ratio = shapes[0]["restore_median_ms"] / shapes[1]["restore_median_ms"]
        table(shapes, ratio)
        result = {"bench": "tree", "machine": driver.machine_info(), "runs": opts.runs,
                  "shapes": shapes, "ratio_tree_to_single": round(ratio, 3),
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(opts.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print("wrote %s" % opts.json)
        return 0
    except (BenchError, OSError, subprocess.TimeoutExpired) as e:
        print("thaw bench tree: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("thaw bench tree: interrupted", file=sys.stderr)
        return 130
    finally:
        PROCS.kill_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
