#!/usr/bin/python3
"""dump.py - `thaw dump` of workload A against CRIU's, on the same process.

Starts workload A (bench/workload_a.py) cold once, then in each of --rounds
rounds dumps it with every tool, the order alternating from round to round
so that drift of the machine falls on all alike:

  thaw   `thaw -v dump --pid PID --dir DIR --leave-running`: wall time,
         CPU time (user + system of thaw and its threads), and thaw's own
         phases from its closing line (freeze, collect, write);
  base   the same with a second thaw binary (--base), e.g. a build of an
         older commit, to compare two builds in one run;
  criu   `criu dump -t PID -D DIR --leave-running --shell-job`, when criu
         is installed (--criu, default the one on PATH): wall and CPU time.

Every dump goes into a fresh directory under --dir (default /dev/shm, tmpfs:
the file system's own cost is then the page cache's), removed after it.
The program runs on through all of them and must still give its cold answer
at the end.  When criu is not installed, or its first dump fails (CRIU
older than the kernel: 3.17 cannot parse 6.13's [vvar_vclock] mapping), it
is left out with the reason and the rest still runs.

Prints medians and the ratios to thaw; writes every raw figure as JSON
(--json, default BUILD/bench-dump.json).  Units: ms of wall or CPU time;
MB = 1e6 bytes.  Python standard library only; every process it starts is
killed by PID (driver.py's helpers).

    bench/dump.py [--build DIR] [--rounds 7] [--base OLD/thaw] [--no-criu]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402  (the workload and the process helpers)

PHASES = re.compile(r"in ([\d.]+) ms \(freeze ([\d.]+), collect ([\d.]+), write ([\d.]+); "
                    r"(\d+) pages")


def run_timed(argv, timeout):
    """Runs argv; returns (exit status, wall ms, CPU ms, stderr text)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    timer = driver.threading.Timer(timeout, p.kill)
    timer.start()
    try:
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
        p.stderr.close()
    t1 = time.perf_counter()
    p.returncode = os.waitstatus_to_exitcode(status)
    return (p.returncode, driver.ms(t0, t1), round((ru.ru_utime + ru.ru_stime) * 1000.0, 3),
            err.decode(errors="replace"))


def dump_thaw(binary, pid, snap, opts):
    rc, wall, cpu, err = run_timed([binary, "-v", "dump", "--pid", str(pid), "--dir", snap,
                                    "--leave-running"], opts.timeout)
    if rc != 0:
        raise driver.BenchError(f"{binary} dump --pid {pid} failed (exit {rc}):\n"
                                f"{driver.indent(driver.tail(err.encode()))}")
    fig = {"wall_ms": wall, "cpu_ms": cpu, "bytes": driver.dir_bytes(snap)}
    m = PHASES.search(err)
    if m:
        fig.update(total_ms=float(m.group(1)), freeze_ms=float(m.group(2)),
                   collect_ms=float(m.group(3)), write_ms=float(m.group(4)),
                   pages=int(m.group(5)))
    return fig


def dump_criu(criu, pid, snap, opts):
    os.makedirs(snap)
    rc, wall, cpu, err = run_timed([criu, "dump", "-t", str(pid), "-D", snap, "-o", "dump.log",
                                    "--leave-running", "--shell-job"], opts.timeout)
    if rc != 0:
        why = err.strip().splitlines()[-1:] or []
        try:
            with open(os.path.join(snap, "dump.log"), errors="replace") as f:
                # the first errors that say something (not a helper's exit status)
                why = [line.strip() for line in f
                       if "Error" in line and "exited, status" not in line][:2] or why
        except OSError:
            pass
        raise driver.BenchError(f"criu dump -t {pid} failed (exit {rc}): " + " / ".join(why))
    return {"wall_ms": wall, "cpu_ms": cpu, "bytes": driver.dir_bytes(snap)}


def ask(p, what, opts):
    """The program's answer to one request (it must still serve after every dump)."""
    p.stdin.write(driver.REQUEST)
    p.stdin.flush()
    return driver.LineReader(p.stdout).readline(opts.timeout, what)


def bench(opts):
    tools = [("thaw", lambda pid, snap: dump_thaw(opts.thaw, pid, snap, opts))]
    if opts.base:
        tools.append(("base", lambda pid, snap: dump_thaw(opts.base, pid, snap, opts)))
    skipped = {}
    if opts.criu:
        tools.append(("criu", lambda pid, snap: dump_criu(opts.criu, pid, snap, opts)))
    else:
        skipped["criu"] = "not installed (criu not on PATH)" if not opts.no_criu else "--no-criu"
    wl = {"key": "a", "argv": [opts.python, os.path.join(driver.ROOT, "bench", "workload_a.py")]}
    runs = {name: [] for name, _ in tools}
    p, err, cold = driver.cold_start(wl, opts)
    try:
        for r in range(opts.rounds):
            order = tools if r % 2 == 0 else tools[::-1]
            for name, fn in order:
                if name in skipped:
                    continue
                print(f"  round {r + 1}/{opts.rounds}: {name}", file=sys.stderr, flush=True)
                snap = os.path.join(opts.dir, f"{name}-{r}")
                shutil.rmtree(snap, ignore_errors=True)
                try:
                    runs[name].append(fn(p.pid, snap))
                except driver.BenchError as e:
                    if name != "criu" or runs[name]:
                        raise
                    skipped[name] = str(e)  # CRIU that cannot dump here: said, left out
                    print(f"thaw bench: {e}", file=sys.stderr, flush=True)
                finally:
                    shutil.rmtree(snap, ignore_errors=True)
        answer = ask(p, "workload A after the dumps", opts)
        if answer != cold["answer"]:
            raise driver.BenchError(f"after the dumps workload A answered {answer!r}, "
                                    f"cold {cold['answer']!r}")
        rss = driver.rss_bytes(p.pid)
    finally:
        driver.PROCS.kill(p)
    keys = ("wall_ms", "cpu_ms", "freeze_ms", "collect_ms", "write_ms", "bytes")
    med = {name: {k: driver.median([f.get(k) for f in runs[name]]) for k in keys}
           for name in runs if runs[name]}
    for name in med:
        if name != "thaw" and med[name]["wall_ms"] and med["thaw"]["wall_ms"]:
            med[name]["thaw_over_this"] = round(med["thaw"]["wall_ms"] / med[name]["wall_ms"], 3)
    return {"machine": driver.machine_info(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": {"rounds": opts.rounds, "dir": opts.dir, "thaw": opts.thaw,
                       "base": opts.base, "criu": opts.criu, "python": opts.python,
                       "units": "ms wall or CPU time; bytes"},
            "rss_bytes": rss, "runs": runs, "median": med, "skipped": skipped}


def print_table(doc):
    m = doc["machine"]
    print(f"\nthaw dump against criu dump of workload A (RSS {doc['rss_bytes'] / 1e6:.0f} MB,"
          f" --leave-running, into {doc['config']['dir']}) on {m['model_name']}, {m['nproc']}"
          f" CPUs, Linux {m['kernel']}; medians of {doc['config']['rounds']}\n")
    cols = ("tool", "wall ms", "CPU ms", "freeze", "collect", "write", "MB", "thaw/this")
    print(f"{cols[0]:<6}" + "".join(f"{c:>10}" for c in cols[1:]))
    for name, med in doc["median"].items():
        mb = med["bytes"] / 1e6 if med.get("bytes") else None
        vals = [med.get("wall_ms"), med.get("cpu_ms"), med.get("freeze_ms"),
                med.get("collect_ms"), med.get("write_ms"), mb]
        row = f"{name:<6}" + "".join(f"{driver.fmt(v, '.1f'):>10}" for v in vals)
        ratio = med.get("thaw_over_this")
        print(row + f"{driver.fmt(ratio, '.2f') + ('x' if ratio else ''):>10}")
    for name, why in doc["skipped"].items():
        print(f"  {name}: left out: {why}")
    print("\nwall = launch to exit of the dump command; CPU = its user + system time, threads"
          " included;\nfreeze/collect/write = thaw's own phases (thaw -v); MB = the snapshot"
          " directory's size.")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--thaw", help="thaw binary (default BUILD/thaw)")
    ap.add_argument("--base", help="a second thaw binary to dump with (an older build)")
    ap.add_argument("--criu", default=shutil.which("criu"), help="criu binary (default: PATH)")
    ap.add_argument("--no-criu", action="store_true", help="leave criu out")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--dir", help="where the snapshots go (default /dev/shm, else BUILD)")
    ap.add_argument("--python", default="/usr/bin/python3", help="python with torch")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--json", help="output (default BUILD/bench-dump.json)")
    opts = ap.parse_args(argv)
    if not 1 <= opts.rounds <= 101:
        ap.error("--rounds must be between 1 and 101")
    opts.build = os.path.abspath(opts.build)
    opts.thaw = os.path.abspath(opts.thaw or os.path.join(opts.build, "thaw"))
    opts.json = os.path.abspath(opts.json or os.path.join(opts.build, "bench-dump.json"))
    if opts.no_criu:
        opts.criu = None
    for path in [opts.thaw] + ([opts.base] if opts.base else []):
        if not os.access(path, os.X_OK):
            print(f"thaw bench: {path} is missing; build it first", file=sys.stderr)
            return 2
    parent = opts.dir or ("/dev/shm" if os.path.isdir("/dev/shm") else opts.build)
    try:
        with tempfile.TemporaryDirectory(prefix="thaw-bench-dump-", dir=parent) as work:
            opts.dir = work
            doc = bench(opts)
    except (driver.BenchError, OSError, subprocess.TimeoutExpired) as e:
        print(f"thaw bench: dump: {e}", file=sys.stderr)
        return 1
    finally:
        driver.PROCS.kill_all()
    doc["config"]["dir"] = parent
    os.makedirs(os.path.dirname(opts.json), exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print_table(doc)
    print(f"\nraw runs: {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
