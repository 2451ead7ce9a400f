#!/usr/bin/python3
"""run.py - `thaw run` end to end: cold start against restored start.

Measures `thaw run -- /usr/bin/python3 examples/worker.py` (run from the
repository root) from the command's start to the worker's first line of
output after its snapshot point.  The example worker prints nothing before
that point, so it is the first line on its stdout on both paths.

  cold      thaw run's first start: no snapshot in the store, the worker
            loads and warms its model, thaw snapshots it (the dump is part
            of the time: that is what a first start costs) and it goes on;
  plain     the same command without thaw (`python3 examples/worker.py`,
            the SDK a no-op): what the worker costs on its own;
  restored  a later start: thaw restores the snapshot and the worker goes on
            from its snapshot point.

Every first line must be identical on all paths.  The thaw events
(--json-events) of each start say which path it took and, when restored, when
the program was running again, so the restored time splits into thaw's part
(launch key, checks, engine restore) and the worker's part (reseeding, its
snap=False methods, its first answer).

  bench/run.py [--build DIR] [--runs N] [--json FILE]   (make bench; median of N)
  bench/run.py --demo                                   (make demo: 1 cold, 3 restored)

The store is a fresh directory under BUILD, so the first start is cold.  Every
process is started with Popen and killed by PID (its init and program below it
included) on every way out.  Python standard library only; the process and
pipe helpers are bench/driver.py's.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402  (bench/driver.py: Drain, LineReader, PROCS, helpers)
from driver import BenchError, Drain, LineReader, PROCS, indent, median, ms, now  # noqa: E402

ROOT = driver.ROOT
PYTHON = "/usr/bin/python3"
WORKER = "examples/worker.py"
TARGET_SPEEDUP = 10.0


def child_env(extra=None):
    env = dict(os.environ)
    # the shell's "$_" differs between invocations and is part of the launch key
    env.pop("_", None)
    env.pop("THAW_CONTROL_FD", None)
    if extra:
        env.update(extra)
    return env


def read_events(path):
    events = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return events


def start_once(argv, opts, what, env, events_path=None):
    """One start: command start to the first stdout line; then waits for the exit."""
    if events_path:
        driver.rm_f(events_path)
    t0 = now()
    p = PROCS.popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    err = Drain(p.stderr)
    out = LineReader(p.stdout)
    try:
        line = out.readline(opts.timeout, what)
        t1 = now()
        try:
            rc = driver.wait_exact(p, opts.timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{what}: still running {opts.timeout:.0f} s after its first line")
        t2 = now()
    except BenchError as e:
        raise BenchError(f"{e}\n  thaw/worker stderr:\n{indent(err.tail())}")
    finally:
        PROCS.kill(p)
    if rc != 0:
        raise BenchError(f"{what}: exited {rc}\n  thaw/worker stderr:\n{indent(err.tail())}")
    err.thread.join(timeout=5)
    run = {"first_output_ms": ms(t0, t1), "exit_ms": ms(t0, t2), "line": line}
    if events_path is None:
        return run
    events = {e.get("event"): e for e in read_events(events_path)}
    run["path"] = "restored" if "restored" in events else "cold"
    if "restored" in events:
        ev = events["restored"]
        run["thaw_running_ms"] = round(ev.get("ms", 0.0), 3)       # thaw run start → running
        run["engine_restore_ms"] = round(ev.get("restore_ms", 0.0), 3)
        run["worker_after_restore_ms"] = round(run["first_output_ms"] - ev.get("ms", 0.0), 3)
    if "cold_start" in events:
        run["cold_reason"] = events["cold_start"].get("reason")
    if "snapshot_created" in events:
        ev = events["snapshot_created"]
        run["snapshot_ms"] = round(ev.get("ms", 0.0), 3)
        run["snapshot_bytes"] = ev.get("bytes")
    if "snapshot_failed" in events:
        run["snapshot_failed"] = events["snapshot_failed"].get("message")
    run["stderr"] = err.tail(6)
    return run


def thaw_argv(opts, events_path):
    return [opts.thaw, "run", "--store", opts.store, "--json-events", events_path,
            "--", PYTHON, WORKER]


def fresh_store(opts):
    shutil.rmtree(opts.store, ignore_errors=True)
    os.makedirs(opts.store, mode=0o700)


def cold(opts, tag):
    """thaw run's first start into an empty store; must snapshot."""
    fresh_store(opts)
    ev = os.path.join(opts.workdir, f"{tag}.events")
    run = start_once(thaw_argv(opts, ev), opts, f"thaw run ({tag})", child_env(), ev)
    if run["path"] != "cold" or "snapshot_bytes" not in run:
        raise BenchError(f"{tag}: the first start did not snapshot "
                         f"({run.get('snapshot_failed') or run['path']}):\n"
                         f"{indent(run['stderr'])}")
    return run


def restored(opts, tag):
    ev = os.path.join(opts.workdir, f"{tag}.events")
    run = start_once(thaw_argv(opts, ev), opts, f"thaw run ({tag})", child_env(), ev)
    if run["path"] != "restored":
        raise BenchError(f"{tag}: started cold, not restored "
                         f"({run.get('cold_reason')}):\n{indent(run['stderr'])}")
    return run


def plain(opts, tag):
    sdk = os.path.join(ROOT, "sdk", "python")
    return start_once([PYTHON, WORKER], opts, f"python3 alone ({tag})",
                      child_env({"PYTHONPATH": sdk}))


def python_floor(opts):
    """Bare interpreter start, and the SDK's import: the floor under any Python start."""
    sdk = os.path.join(ROOT, "sdk", "python")
    figures = {}
    for key, code in (("python_start_ms", "pass"), ("python_import_thaw_ms", "import thaw")):
        times = []
        for _ in range(5):
            t0 = now()
            subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=child_env({"PYTHONPATH": sdk}),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True,
                           timeout=opts.timeout)
            times.append(ms(t0, now()))
        figures[key] = median(times)
    return figures


def check_lines(runs):
    lines = {r["line"] for r in runs}
    if len(lines) != 1:
        raise BenchError("first output line differs between starts: " +
                         "; ".join(sorted(repr(x) for x in lines)))
    return lines.pop()


def summarise(doc):
    cold_runs, plain_runs, warm_runs = doc["cold"], doc["plain"], doc["restored"]
    m = {
        "cold_first_output_ms": median([r["first_output_ms"] for r in cold_runs]),
        "cold_snapshot_ms": median([r.get("snapshot_ms") for r in cold_runs]),
        "plain_first_output_ms": median([r["first_output_ms"] for r in plain_runs]),
        "restored_first_output_ms": median([r["first_output_ms"] for r in warm_runs]),
        "restored_thaw_running_ms": median([r.get("thaw_running_ms") for r in warm_runs]),
        "restored_engine_restore_ms": median([r.get("engine_restore_ms") for r in warm_runs]),
        "restored_worker_after_restore_ms":
            median([r.get("worker_after_restore_ms") for r in warm_runs]),
        "snapshot_bytes": median([r.get("snapshot_bytes") for r in cold_runs]),
    }
    m = {k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()}
    if m["restored_first_output_ms"]:
        m["speedup"] = round(m["cold_first_output_ms"] / m["restored_first_output_ms"], 2)
        if m["plain_first_output_ms"]:
            m["speedup_vs_plain"] = round(
                m["plain_first_output_ms"] / m["restored_first_output_ms"], 2)
    m["target_speedup"] = TARGET_SPEEDUP
    m["meets_target"] = bool(m.get("speedup") and m["speedup"] >= TARGET_SPEEDUP)
    doc["median"] = m
    return m


def print_bench(doc, out=sys.stdout):
    m = doc["median"]
    print(f"\nthaw run -- {PYTHON} {WORKER}: command start to the first output after the"
          f" snapshot point\n(median of {doc['config']['runs']} each)\n", file=out)
    print(f"{'start':<34}{'first output':>14}{'speed-up':>10}", file=out)
    rows = [("cold: thaw run, first start", m["cold_first_output_ms"], None),
            ("  of which the snapshot", m["cold_snapshot_ms"], None),
            ("cold: python3 alone, no thaw", m["plain_first_output_ms"], None),
            ("restored: thaw run", m["restored_first_output_ms"], m.get("speedup")),
            ("  thaw: start to worker running", m["restored_thaw_running_ms"], None),
            ("    of which checks + restore", m["restored_engine_restore_ms"], None),
            ("  worker: snapshot point → line", m["restored_worker_after_restore_ms"], None)]
    for name, t, sp in rows:
        sp_text = f"{sp:.1f}x" if sp else ""
        print(f"{name:<34}{driver.fmt(t, '.1f'):>11} ms{sp_text:>10}", file=out)
    print(f"\nfirst line on every path: {doc['line']!r}", file=out)
    verdict = "meets" if m["meets_target"] else "BELOW"
    print(f"speed-up {driver.fmt(m.get('speedup'), '.1f')}x against thaw run's first start "
          f"({driver.fmt(m.get('speedup_vs_plain'), '.1f')}x against python3 alone): "
          f"{verdict} the {TARGET_SPEEDUP:.0f}x target", file=out)
    print(f"floor: a bare python3 starts in {driver.fmt(doc['floor'].get('python_start_ms'), '.1f')}"
          f" ms, `import thaw` in "
          f"{driver.fmt(doc['floor'].get('python_import_thaw_ms'), '.1f')} ms", file=out)


def bench(opts):
    doc = {"machine": driver.machine_info(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "config": {"runs": opts.runs, "command": ["thaw", "run", "--", PYTHON, WORKER],
                      "units": "ms wall time from the command's start"},
           "cold": [], "plain": [], "restored": [], "error": None}
    try:
        for i in range(opts.runs):
            print(f"  thaw run: cold start {i + 1}/{opts.runs}", file=sys.stderr, flush=True)
            doc["cold"].append(cold(opts, f"cold-{i}"))
        for i in range(opts.runs):
            print(f"  python3 alone {i + 1}/{opts.runs}", file=sys.stderr, flush=True)
            doc["plain"].append(plain(opts, f"plain-{i}"))
        for i in range(opts.runs):
            print(f"  thaw run: restored start {i + 1}/{opts.runs}", file=sys.stderr, flush=True)
            doc["restored"].append(restored(opts, f"restored-{i}"))
        doc["line"] = check_lines(doc["cold"] + doc["plain"] + doc["restored"])
        doc["floor"] = python_floor(opts)
        summarise(doc)
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        doc["error"] = str(e)
    with open(opts.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    if doc["error"]:
        print(f"thaw bench (thaw run): {doc['error']}", file=sys.stderr)
        print(f"raw runs: {opts.json}")
        return 1
    print_bench(doc)
    print(f"raw runs: {driver.show(opts.json)}")
    return 0


def demo(opts):
    print(f"\nthaw demo, part 2: thaw run -- {PYTHON} {WORKER}")
    print(f"  (the example worker: @thaw.enter(snap=True) imports torch, builds and warms an MLP;"
          f"\n   @thaw.enter() opens its output; store {driver.show(opts.store)},"
          f" emptied first)")
    print("  start 1: cold, snapshot at the snapshot point ...", flush=True)
    c = cold(opts, "demo-cold")
    print(f"    snapshot of {c['snapshot_bytes'] / 2**20:.1f} MiB taken in"
          f" {c['snapshot_ms']:.0f} ms; first output after {c['first_output_ms']:.0f} ms")
    rows = [("cold start", c)]
    for i in range(3):
        print(f"  start {i + 2}: restored ...", flush=True)
        rows.append((f"restored {i + 1}", restored(opts, f"demo-restored-{i}")))
    print(f"\n{'':<12}{'command start to first output':>31}{'speed-up':>10}   first line")
    failed = False
    for name, r in rows:
        same = r["line"] == c["line"]
        failed |= not same
        speedup = c["first_output_ms"] / r["first_output_ms"]
        verdict = "" if r is c else ("identical" if same else "DIFFERENT")
        print(f"{name:<12}{r['first_output_ms']:>28.1f} ms{speedup:>9.1f}x   {r['line']}"
              f"  {verdict}")
    w = rows[-1][1]
    print(f"\n(restored {len(rows) - 1}: thaw had the worker running again after"
          f" {w['thaw_running_ms']:.0f} ms, the worker printed {w['worker_after_restore_ms']:.0f}"
          f" ms later; the cold start includes the {c['snapshot_ms']:.0f} ms snapshot)")
    print(f"The snapshots: {driver.show(opts.thaw)} snapshots --store {driver.show(opts.store)}")
    if failed:
        print("thaw demo: a restored start printed a different first line", file=sys.stderr)
        return 1
    return 0


def parse_args(argv):
    ap = argparse.ArgumentParser(description="thaw run: cold vs restored start (see header)")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"),
                    help="build directory (default $BUILD or build)")
    ap.add_argument("--thaw", help="thaw binary (default BUILD/thaw)")
    ap.add_argument("--runs", type=int, default=5, help="starts of each kind (default 5)")
    ap.add_argument("--demo", action="store_true", help="1 cold start, 3 restored, a table")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per start")
    ap.add_argument("--json", help="output file (default BUILD/bench-run.json)")
    ap.add_argument("--store", help="the store, emptied first (default BUILD/bench-run-store,"
                    " BUILD/demo-run-store with --demo)")
    opts = ap.parse_args(argv)
    if not 1 <= opts.runs <= 101:
        ap.error("--runs must be between 1 and 101")
    opts.build = os.path.abspath(opts.build)
    opts.thaw = os.path.abspath(opts.thaw or os.path.join(opts.build, "thaw"))
    opts.json = os.path.abspath(opts.json or os.path.join(opts.build, "bench-run.json"))
    opts.workdir = os.path.join(opts.build, "bench-work")
    opts.store = os.path.abspath(opts.store or os.path.join(
        opts.build, "demo-run-store" if opts.demo else "bench-run-store"))
    return opts


def on_sigterm(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    opts = parse_args(argv)
    if not os.access(opts.thaw, os.X_OK):
        print(f"thaw run bench: {opts.thaw} is missing; build it first (make)", file=sys.stderr)
        return 2
    if not os.access(PYTHON, os.X_OK):
        print(f"thaw run bench: {PYTHON} is missing", file=sys.stderr)
        return 2
    os.makedirs(opts.workdir, mode=0o700, exist_ok=True)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return demo(opts) if opts.demo else bench(opts)
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        print(f"thaw {'demo' if opts.demo else 'bench'} (thaw run): {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("thaw run bench: interrupted", file=sys.stderr)
        return 130
    finally:
        PROCS.kill_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
