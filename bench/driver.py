#!/usr/bin/python3
"""driver.py - runs the benchmark workloads through thaw and reports figures.

For each workload (A: python3 + torch MLP, B: C program with N GiB and 8
threads) and each of --runs runs:
  1. cold start: launch the program, time to READY, then to its first answer;
  2. `thaw dump` of it (which kills it): time, snapshot bytes on disk, bytes
     of page data dumped (from `thaw inspect --json`, else pages.img's size);
  3. `thaw restore --detach --pidfile`: time from launch to thaw's exit, when
     the program runs again; the restored copy is then asked once; the same
     again with --verify (the restored copy read back and compared with the
     snapshot before it runs), so that the two times come from one run;
  4. `thaw restore` in the foreground with pipes as stdin/stdout: time from
     launch to the first answer line to a request written at launch;
  5. with --lazy (docs/lazy-restore.md), 3 and 4 with `--lazy` (no working set:
     THAW_LAZY_WORKSET=0), 4 without the background pass too; then one lazy
     foreground restore that records the working set into the snapshot (the
     request answered and stdin closed within its window), and 3 and 4 again,
     lazy with that recorded prefetch.
Every answer of every restored copy must equal the cold run's answer byte for
byte.  Then the copy ceiling (bench/ceiling.c: one thread memcpy of the same
number of bytes into fresh anonymous memory) is measured on the same machine,
so restore throughput is shown next to what a copy alone can do.

Output: a table on stdout and JSON with every raw run, medians and machine
info.  --demo instead runs workload A once cold and restores it three times.
Every process started here is killed by PID: programs we launched through
their Popen object, restored ones through the PID in thaw's pidfile.

Units: ms are milliseconds of wall time; MB = 1e6 bytes; GB/s = 1e9 bytes/s.
Python standard library only.
"""
import argparse
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUEST = b"answer\n"
READY = "READY"


class BenchError(Exception):
    pass


def now():
    return time.perf_counter()


def ms(t0, t1):
    return round((t1 - t0) * 1000.0, 3)


# ---------------------------------------------------------------- processes

class Drain:
    """Reads an fd to EOF in a thread, keeping the tail (stderr of a program)."""

    LIMIT = 64 * 1024

    def __init__(self, fileobj):
        self.fd = fileobj.fileno()
        self.fileobj = fileobj
        self.data = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        # This thread owns the fd and closes it at EOF: closing it from another
        # thread while a read is blocked on it could make the read hit a reused fd.
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.fileobj.close()
                return
            self.data += chunk
            if len(self.data) > self.LIMIT:
                del self.data[: len(self.data) - self.LIMIT]

    def tail(self, lines=15):
        # A daemon thread may still be appending; copying under the GIL is enough.
        text = bytes(self.data).decode(errors="replace").rstrip("\n").splitlines()
        return "\n".join(text[-lines:])


def wait_exact(p, timeout):
    """p.wait(), timed to the exit itself.

    Popen.wait(timeout=...) polls with sleeps that double up to 50 ms, so an
    exit at 65 ms is seen at about 113 ms; a blocking wait with a watchdog
    that kills p at the deadline is exact.  Raises TimeoutExpired like wait().
    """
    fired = threading.Event()

    def expire():
        fired.set()
        p.kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        rc = p.wait()
    finally:
        timer.cancel()
    if fired.is_set():
        raise subprocess.TimeoutExpired(p.args, timeout)
    return rc


class LineReader:
    """Line reads from a pipe with a deadline (a hung restore must not hang us)."""

    def __init__(self, fileobj):
        self.fd = fileobj.fileno()
        self.buf = b""

    def readline(self, timeout, what):
        deadline = now() + timeout
        while b"\n" not in self.buf:
            left = deadline - now()
            if left <= 0:
                raise BenchError(f"{what}: no line within {timeout:.0f} s")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise BenchError(f"{what}: output closed before a full line "
                                 f"(got {self.buf[:200]!r})")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")


def kill_pid(pid, timeout=10.0):
    """SIGKILL pid and wait until it is gone or a zombie (its memory is freed)."""
    if pid is None or pid <= 1:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = now() + timeout
    while pid_alive(pid) and now() < deadline:
        time.sleep(0.005)


def descendants(root):
    """PIDs below root, parents before children (a scan of /proc's ppid fields)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Procs:
    """Everything started here, so that every exit path kills it by PID."""

    def __init__(self):
        self.popens = []
        self.pids = set()

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.popens.append(p)
        return p

    def adopt(self, pid):
        self.pids.add(pid)

    def kill(self, p):
        if p.poll() is None:
            # a thaw restore that hangs may have an init and the program below it
            for pid in descendants(p.pid):
                kill_pid(pid, timeout=0)
            p.kill()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # stderr belongs to its Drain thread, which closes it at EOF
        for f in (p.stdin, p.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
        if p in self.popens:
            self.popens.remove(p)

    def kill_adopted(self, pid):
        kill_pid(pid)
        self.pids.discard(pid)

    def kill_all(self):
        for pid in list(self.pids):
            self.kill_adopted(pid)
        for p in list(self.popens):
            self.kill(p)


PROCS = Procs()


def read_pidfile(path, timeout):
    deadline = now() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        except ValueError:
            raise BenchError(f"pidfile {path}: not a PID")
        if now() >= deadline:
            return None
        time.sleep(0.002)


# ---------------------------------------------------------------- steps

def start_piped(argv, cwd=None, env=None):
    # verification is asked for by --verify only, whatever the caller's THAW_VERIFY says
    env = dict(env or os.environ, THAW_VERIFY="0")
    return PROCS.popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, start_new_session=True, env=env)


def cold_start(wl, opts):
    """Launch the workload, wait for READY, ask once. Returns (popen, figures)."""
    t0 = now()
    # A session of its own: its sid/pgid are its own PID, which a restore
    # into a fresh PID namespace can give back.
    p = start_piped(wl["argv"], cwd=ROOT)
    err = Drain(p.stderr)
    out = LineReader(p.stdout)
    try:
        line = out.readline(opts.timeout, f"{wl['key']}: cold start")
        t_ready = now()
        if line != READY:
            raise BenchError(f"{wl['key']}: expected {READY}, got {line!r}")
        p.stdin.write(REQUEST)
        p.stdin.flush()
        answer = out.readline(opts.timeout, f"{wl['key']}: cold answer")
        t_answer = now()
    except BenchError as e:
        PROCS.kill(p)
        raise BenchError(f"{e}\n  program stderr:\n{indent(err.tail())}")
    return p, err, {
        "cold_ready_ms": ms(t0, t_ready),
        "cold_first_answer_ms": ms(t0, t_answer),
        "rss_bytes": rss_bytes(p.pid),
        "answer": answer,
    }


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def dump(p, err, snap, opts):
    t0 = now()
    r = subprocess.run([opts.thaw, "dump", "--pid", str(p.pid), "--dir", snap],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=opts.timeout)
    t1 = now()
    # dump kills the program; reap it (and kill it if the dump did not).
    still_running = p.poll() is None
    if still_running:
        try:
            p.wait(timeout=5)
            still_running = False
        except subprocess.TimeoutExpired:
            pass
    PROCS.kill(p)
    if r.returncode != 0:
        raise BenchError(f"thaw dump --pid {p.pid} failed (exit {r.returncode}):\n"
                         f"{indent(tail(r.stderr))}\n  program stderr:\n{indent(err.tail())}")
    if still_running:
        raise BenchError(f"thaw dump --pid {p.pid} exited 0 but left the program running")
    if not os.path.isdir(snap):
        raise BenchError(f"thaw dump exited 0 but {snap} is not a directory")
    return {"dump_ms": ms(t0, t1)}


def dir_bytes(path):
    """The apparent size of every file below path."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def snapshot_sizes(snap, opts):
    apparent = disk = 0
    pages_img = None
    for dirpath, _, files in os.walk(snap):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            apparent += st.st_size
            disk += st.st_blocks * 512
            if name == "pages.img" and dirpath == snap:
                pages_img = st.st_size
    figures = {"snapshot_bytes": apparent, "snapshot_disk_bytes": disk,
               "dumped_bytes": pages_img, "dumped_bytes_from": "pages.img size"}
    r = subprocess.run([opts.thaw, "inspect", snap, "--json"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=opts.timeout)
    if r.returncode == 0:
        try:
            summary = json.loads(r.stdout).get("summary", {})
        except (ValueError, AttributeError):
            summary = {}
        if isinstance(summary, dict):
            figures["inspect_summary"] = summary
            for key in ("dumped_bytes", "bytes_dumped", "pages_bytes", "bytes_written"):
                if isinstance(summary.get(key), int):
                    figures["dumped_bytes"] = summary[key]
                    figures["dumped_bytes_from"] = f"inspect summary.{key}"
                    break
            else:
                if isinstance(summary.get("pages_dumped"), int):
                    figures["dumped_bytes"] = summary["pages_dumped"] * 4096
                    figures["dumped_bytes_from"] = "inspect summary.pages_dumped * 4096"
    if figures["dumped_bytes"] is None:
        figures["dumped_bytes"] = apparent
        figures["dumped_bytes_from"] = "whole snapshot size"
    return figures


# Lazy variants (docs/lazy-restore.md): their arguments and environment.
LAZY_MODES = {
    "lazy": {"THAW_LAZY_WORKSET": "0", "THAW_LAZY_BACKGROUND": "1"},
    "ondemand": {"THAW_LAZY_WORKSET": "0", "THAW_LAZY_BACKGROUND": "0"},
    # the window outlasts the run: it ends when the program does, after its answer
    "record": {"THAW_LAZY_WORKSET": "1", "THAW_LAZY_BACKGROUND": "1",
               "THAW_LAZY_RECORD_MS": "60000"},
    "prefetch": {"THAW_LAZY_WORKSET": "1", "THAW_LAZY_BACKGROUND": "1"},
}


def lazy_argv_env(lazy):
    if not lazy:
        return [], None
    return ["--lazy"], dict(os.environ, **LAZY_MODES[lazy])


def restore_detached(wl, snap, opts, tag, verify=False, lazy=None):
    """Time to `thaw restore --detach [--verify|--lazy]` exiting, then ask the restored copy once."""
    pidfile = os.path.join(opts.workdir, f"{tag}.pid")
    rm_f(pidfile)
    extra, env = lazy_argv_env(lazy)
    t0 = now()
    p = start_piped([opts.thaw, "restore", "--dir", snap, "--detach", "--pidfile", pidfile] +
                    (["--verify"] if verify else []) + extra, env=env)
    err = Drain(p.stderr)
    out = LineReader(p.stdout)
    pid = None
    try:
        try:
            rc = wait_exact(p, opts.timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"thaw restore --detach: not back within {opts.timeout:.0f} s")
        t1 = now()
        pid = read_pidfile(pidfile, 2.0)
        if pid is not None:
            PROCS.adopt(pid)
        if rc != 0:
            raise BenchError(f"thaw restore --detach failed (exit {rc})")
        if pid is None:
            raise BenchError(f"thaw restore --detach exited 0 but wrote no PID to {pidfile}")
        # The restored program holds the other ends of thaw restore's pipes.
        t2 = now()
        p.stdin.write(REQUEST)
        p.stdin.flush()
        answer = out.readline(opts.timeout, f"{wl['key']}: detached restored copy")
        t3 = now()
    except (BenchError, OSError) as e:
        raise BenchError(f"{e}\n  thaw/program stderr:\n{indent(err.tail())}")
    finally:
        if pid is not None:
            PROCS.kill_adopted(pid)
        PROCS.kill(p)
        rm_f(pidfile)
    if verify:
        return {"restore_verified_ms": ms(t0, t1), "answer_verified": answer}
    if lazy:
        return {f"{lazy}_running_ms": ms(t0, t1), f"{lazy}_detached_answer_ms": ms(t2, t3),
                f"answer_{lazy}_detached": answer}
    return {"restore_running_again_ms": ms(t0, t1), "detached_answer_ms": ms(t2, t3),
            "restored_pid": pid, "answer_detached": answer}


def restore_foreground(wl, snap, opts, tag, lazy=None):
    """Time from launching `thaw restore` to the answer to a request written at launch.

    lazy: None (eager) or a key of LAZY_MODES.
    """
    pidfile = os.path.join(opts.workdir, f"{tag}.pid")
    rm_f(pidfile)
    extra, env = lazy_argv_env(lazy)
    argv = [opts.thaw, "restore", "--dir", snap, "--pidfile", pidfile] + extra
    t0 = now()
    p = start_piped(argv, env=env)
    err = Drain(p.stderr)
    out = LineReader(p.stdout)
    pid = None
    try:
        try:
            # The pipe holds the request until the restored program reads it.
            p.stdin.write(REQUEST)
            p.stdin.flush()
            answer = out.readline(opts.timeout, f"{wl['key']}: foreground restore")
        except (BenchError, OSError) as e:
            try:
                rc = p.wait(timeout=1)
            except subprocess.TimeoutExpired:
                rc = None
            status = f" (thaw restore exited {rc})" if rc is not None else ""
            raise BenchError(f"{e}{status}\n  thaw/program stderr:\n{indent(err.tail())}")
        t1 = now()
        pid = read_pidfile(pidfile, 2.0)
        if pid is not None:
            PROCS.adopt(pid)
        # EOF on stdin ends the workload; thaw restore then exits with its status.
        p.stdin.close()
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
    finally:
        if pid is None:
            pid = read_pidfile(pidfile, 0)
        if pid is not None:
            PROCS.kill_adopted(pid)
        PROCS.kill(p)
        rm_f(pidfile)
    if lazy:
        return {f"{lazy}_first_answer_ms": ms(t0, t1), f"answer_{lazy}": answer}
    return {"restore_first_answer_ms": ms(t0, t1), "foreground_exit": rc,
            "answer_foreground": answer}


def wait_workset(snap, timeout):
    """The recording restore's page server writes the record once the program is gone."""
    deadline = time.monotonic() + timeout
    path = os.path.join(snap, "workset.idx")
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise BenchError(f"no working set recorded into {snap} within {timeout:.0f} s")


def lazy_runs(wl, snap, opts, tag):
    """Step 5: lazy, without background, recording, then lazy with the recorded prefetch."""
    run = {}
    run.update(restore_detached(wl, snap, opts, tag, lazy="lazy"))
    run.update(restore_foreground(wl, snap, opts, tag, lazy="lazy"))
    run.update(restore_foreground(wl, snap, opts, tag, lazy="ondemand"))
    if os.path.exists(os.path.join(snap, "workset.idx")):
        raise BenchError(f"{snap} got a working set from a restore with THAW_LAZY_WORKSET=0")
    run.update(restore_foreground(wl, snap, opts, tag, lazy="record"))
    wait_workset(snap, opts.timeout)
    run["workset_bytes"] = os.path.getsize(os.path.join(snap, "workset.idx"))
    run.update(restore_detached(wl, snap, opts, tag, lazy="prefetch"))
    run.update(restore_foreground(wl, snap, opts, tag, lazy="prefetch"))
    return run


def ceiling(nbytes, opts):
    r = subprocess.run([opts.ceiling, str(int(nbytes)), str(opts.runs)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=opts.timeout * 4)
    if r.returncode != 0:
        raise BenchError(f"ceiling failed (exit {r.returncode}):\n{indent(tail(r.stderr))}")
    return json.loads(r.stdout)


# ---------------------------------------------------------------- helpers

def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in (text or "(nothing)").splitlines())


def tail(data, lines=15):
    text = data.decode(errors="replace").rstrip("\n").splitlines()
    return "\n".join(text[-lines:])


def rm_f(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def rm_snapshot(snap):
    # dump publishes with a rename; an aborted one may leave DIR.tmp-* beside it
    parent, base = os.path.split(snap)
    if os.path.isdir(parent):
        for name in os.listdir(parent):
            if name == base or name.startswith(base + ".tmp"):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def machine_info():
    info = {"nproc": os.cpu_count(), "kernel": platform.release(),
            "machine": platform.machine(), "model_name": None, "mem_total_bytes": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["model_name"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_total_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            info["thp"] = f.read().strip()
    except OSError:
        pass
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True) if shutil.which("git") else None
    if r is not None and r.returncode == 0:
        info["git_commit"] = r.stdout.strip()
    return info


def show(path):
    """A path as a person would type it from the repository root."""
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


# ---------------------------------------------------------------- workloads

def workloads(opts):
    return {
        "a": {"key": "a", "name": "A python3+torch MLP",
              "argv": ["/usr/bin/python3", os.path.join(ROOT, "bench", "workload_a.py")]},
        "b": {"key": "b", "name": f"B C {opts.size_gib:g} GiB 8 thr",
              "argv": [opts.workload_b, f"{opts.size_gib:g}"]},
    }


def one_run(wl, opts, index, run):
    """Fills run with one run's figures; on an error what was measured stays in it."""
    tag = f"{wl['key']}-{index}"
    snap = os.path.join(opts.workdir, f"snap-{tag}")
    rm_snapshot(snap)
    try:
        p, err, cold = cold_start(wl, opts)
        run.update(cold)
        run.update(dump(p, err, snap, opts))
        run.update(snapshot_sizes(snap, opts))
        run.update(restore_detached(wl, snap, opts, tag))
        run.update(restore_detached(wl, snap, opts, tag, verify=True))
        run.update(restore_foreground(wl, snap, opts, tag))
        if opts.lazy:
            run.update(lazy_runs(wl, snap, opts, tag))
    finally:
        if not opts.keep:
            rm_snapshot(snap)
    run["restore_gbps"] = round(run["dumped_bytes"] / 1e9 /
                                (run["restore_running_again_ms"] / 1000.0), 3)
    run["bit_identical"] = False
    for key in ("answer_detached", "answer_verified", "answer_foreground", "answer_lazy",
                "answer_ondemand", "answer_record", "answer_prefetch", "answer_lazy_detached",
                "answer_prefetch_detached"):
        if key in run and run[key] != run["answer"]:
            raise BenchError(f"{wl['key']} run {index}: restored copy answered "
                             f"{run[key]!r}, the cold run {run['answer']!r}")
    run["bit_identical"] = True


def bench_workload(wl, opts):
    result = {"name": wl["name"], "argv": wl["argv"], "runs": [], "error": None}
    for i in range(opts.runs):
        print(f"  {wl['key']}: run {i + 1}/{opts.runs}", file=sys.stderr, flush=True)
        run = {"run": i}
        try:
            one_run(wl, opts, i, run)
        except (BenchError, OSError, subprocess.TimeoutExpired) as e:
            result["error"] = str(e)
            result["failed_run"] = run
            print(f"thaw bench: workload {wl['key']}: {e}", file=sys.stderr, flush=True)
            break
        if result["runs"] and run["answer"] != result["runs"][0]["answer"]:
            result["note"] = "cold runs answered differently from each other"
        result["runs"].append(run)
    keys = ("cold_ready_ms", "cold_first_answer_ms", "dump_ms", "snapshot_bytes",
            "snapshot_disk_bytes", "dumped_bytes", "restore_running_again_ms",
            "restore_verified_ms", "restore_first_answer_ms", "detached_answer_ms",
            "restore_gbps", "rss_bytes", "lazy_first_answer_ms", "ondemand_first_answer_ms",
            "record_first_answer_ms", "prefetch_first_answer_ms", "lazy_running_ms",
            "prefetch_running_ms", "lazy_detached_answer_ms", "prefetch_detached_answer_ms",
            "workset_bytes")
    med = {k: median([r.get(k) for r in result["runs"]]) for k in keys}
    # cold figures do not depend on thaw: a run that failed later still has them
    everyone = result["runs"] + ([result["failed_run"]] if "failed_run" in result else [])
    for k in ("cold_ready_ms", "cold_first_answer_ms", "rss_bytes"):
        med[k] = median([r.get(k) for r in everyone])
    med = {k: round(v, 3) if isinstance(v, float) else v for k, v in med.items()}
    if med["cold_first_answer_ms"] and med["restore_first_answer_ms"]:
        med["speedup"] = round(med["cold_first_answer_ms"] / med["restore_first_answer_ms"], 2)
        if med.get("cold_ready_ms") and med.get("restore_running_again_ms"):
            med["ready_speedup"] = round(med["cold_ready_ms"] / med["restore_running_again_ms"], 2)
    ceiling_bytes = med["dumped_bytes"] or med["rss_bytes"]
    if ceiling_bytes:
        try:
            result["ceiling"] = ceiling(ceiling_bytes, opts)
            med["ceiling_gbps"] = result["ceiling"]["median_gbps"]
        except (BenchError, ValueError) as e:
            result["ceiling_error"] = str(e)
            print(f"thaw bench: ceiling: {e}", file=sys.stderr)
    # the cost of --verify, within each run (the two restores of one snapshot, back to back)
    ratios = [r["restore_verified_ms"] / r["restore_running_again_ms"] for r in result["runs"]
              if r.get("restore_verified_ms") and r.get("restore_running_again_ms")]
    if ratios:
        med["verify_ratio"] = round(median(ratios), 2)
    if med.get("restore_gbps") and med.get("ceiling_gbps"):
        med["pct_of_ceiling"] = round(100.0 * med["restore_gbps"] / med["ceiling_gbps"], 1)
    result["median"] = med
    return result


def print_table(results, out=sys.stdout):
    cols = [("workload", 22, None), ("cold ms", 9, ".0f"), ("dump ms", 9, ".0f"),
            ("snap MB", 9, ".1f"), ("run-again ms", 12, ".1f"), ("cold/again", 10, ".1f"),
            ("verified ms", 11, ".1f"), ("1st-answer ms", 13, ".1f"), ("speed-up", 9, ".1f"),
            ("GB/s", 7, ".2f"), ("ceil GB/s", 9, ".2f"), ("% ceil", 7, ".0f")]
    print("  ".join(f"{name:>{w}}" if i else f"{name:<{w}}" for i, (name, w, _) in
                    enumerate(cols)), file=out)
    for key, res in results.items():
        m = res["median"]
        snap_mb = m["snapshot_disk_bytes"] / 1e6 if m.get("snapshot_disk_bytes") else None
        vals = [res["name"], m.get("cold_ready_ms"), m.get("dump_ms"), snap_mb,
                m.get("restore_running_again_ms"), m.get("ready_speedup"),
                m.get("restore_verified_ms"), m.get("restore_first_answer_ms"), m.get("speedup"), m.get("restore_gbps"), m.get("ceiling_gbps"),
                m.get("pct_of_ceiling")]
        cells = []
        for (name, w, spec), v in zip(cols, vals):
            if spec is None:
                cells.append(f"{v:<{w}}")
            else:
                unit = "x" if name in ("speed-up", "cold/again") and v else ""
                cells.append(f"{fmt(v, spec) + unit:>{w}}")
        print("  ".join(cells), file=out)
        if m.get("lazy_first_answer_ms"):
            print(f"  {key}: running again (detached) eager"
                  f" {fmt(m.get('restore_running_again_ms'), '.1f')} ms, --lazy"
                  f" {fmt(m.get('lazy_running_ms'), '.1f')} ms, --lazy + recorded prefetch"
                  f" {fmt(m.get('prefetch_running_ms'), '.1f')} ms", file=out)
            print(f"  {key}: 1st-answer eager {fmt(m.get('restore_first_answer_ms'), '.1f')} ms,"
                  f" --lazy {fmt(m.get('lazy_first_answer_ms'), '.1f')} ms, --lazy without"
                  f" background pass {fmt(m.get('ondemand_first_answer_ms'), '.1f')} ms,"
                  f" --lazy recording {fmt(m.get('record_first_answer_ms'), '.1f')} ms,"
                  f" --lazy + recorded prefetch {fmt(m.get('prefetch_first_answer_ms'), '.1f')}"
                  f" ms", file=out)
            if m.get("prefetch_first_answer_ms") and m.get("restore_first_answer_ms"):
                print(f"  {key}: 1st-answer eager / lazy+prefetch"
                      f" {m['restore_first_answer_ms'] / m['prefetch_first_answer_ms']:.2f}x;"
                      f" working set {fmt((m.get('workset_bytes') or 0) / 1e3, '.1f')} kB",
                      file=out)
        if m.get("verify_ratio"):
            print(f"  {key}: restore --verify takes {m['verify_ratio']:.2f}x the time of a"
                  " restore without it (median of the ratios within each run)", file=out)
        if res.get("error"):
            why = " ".join(line.strip() for line in res["error"].splitlines()[:2])
            print(f"  {key}: stopped after {len(res['runs'])} good run(s): {why}", file=out)
    print("\nmedians; cold ms = launch to READY; run-again ms = `thaw restore --detach` launch to"
          " exit;\nverified ms = the same with --verify;\n1st-answer ms = `thaw restore` launch to the answer of a request sent at"
          " launch;\ncold/again = cold ms / run-again ms (launch to ready against launch to"
          " running again);\nspeed-up = cold launch-to-first-answer / restore 1st-answer; GB/s = dumped"
          " bytes / run-again time;\nceil = one-thread memcpy into fresh memory of the same"
          " bytes, faults included.", file=out)


# ---------------------------------------------------------------- modes

def bench(opts):
    wls = workloads(opts)
    keys = [opts.only] if opts.only else ["a", "b"]
    results = {}
    for key in keys:
        print(f"thaw bench: workload {wls[key]['name']}", file=sys.stderr, flush=True)
        results[key] = bench_workload(wls[key], opts)
    doc = {"machine": machine_info(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "config": {"runs": opts.runs, "size_gib": opts.size_gib, "thaw": opts.thaw,
                      "units": "ms wall time; bytes; GB = 1e9 bytes"},
           "workloads": results}
    with open(opts.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    m = doc["machine"]
    print(f"\nthaw bench on {m['model_name']}, {m['nproc']} CPUs, Linux {m['kernel']}"
          f" ({opts.runs} runs each)\n")
    print_table(results)
    print(f"\nraw runs: {opts.json}")
    return 1 if any(r.get("error") for r in results.values()) else 0


def demo(opts):
    wl = workloads(opts)["a"]
    snap = os.path.join(opts.build, "demo-snapshot")
    rm_snapshot(snap)
    print("thaw demo: workload A (python3, import torch + numpy, build and warm an MLP)")
    print("  cold start ...", flush=True)
    p, err, cold = cold_start(wl, opts)
    print(f"  ready after {cold['cold_ready_ms']:.0f} ms, answered "
          f"{cold['answer'][:16]}... after {cold['cold_first_answer_ms']:.0f} ms")
    print(f"  thaw dump --pid {p.pid} --dir {show(snap)} ...", flush=True)
    d = dump(p, err, snap, opts)
    sizes = snapshot_sizes(snap, opts)
    print(f"  snapshot written in {d['dump_ms']:.0f} ms: {sizes['dumped_bytes'] / 1e6:.1f} MB of"
          f" memory, {sizes['snapshot_disk_bytes'] / 1e6:.1f} MB on disk; the program is gone")
    rows = [("cold start", cold["cold_first_answer_ms"], cold["answer"], "reference")]
    failed = False
    for i in range(3):
        print(f"  thaw restore --dir {show(snap)}  (copy {i + 1}) ...", flush=True)
        r = restore_foreground(wl, snap, opts, f"demo-{i}")
        same = r["answer_foreground"] == cold["answer"]
        failed |= not same
        rows.append((f"restore {i + 1}", r["restore_first_answer_ms"], r["answer_foreground"],
                     "bit-identical" if same else "DIFFERENT"))
    print(f"\n{'':<12}{'launch to first answer':>24}{'speed-up':>11}   answer")
    for name, t, answer, verdict in rows:
        speedup = rows[0][1] / t
        print(f"{name:<12}{t:>21.1f} ms{speedup:>10.1f}x   {answer[:16]}... {verdict}")
    print(f"\nThe snapshot stays in {show(snap)}: "
          f"{show(opts.thaw)} inspect {show(snap)}")
    if failed:
        print("thaw demo: a restored copy answered differently from the cold run",
              file=sys.stderr)
        return 1
    return 0


def parse_args(argv):
    ap = argparse.ArgumentParser(description="thaw benchmarks (see bench/driver.py's header)")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"),
                    help="build directory (default $BUILD or build)")
    ap.add_argument("--thaw", help="thaw binary (default BUILD/thaw)")
    ap.add_argument("--runs", type=int, default=5, help="runs per workload (default 5)")
    ap.add_argument("--only", choices=("a", "b"), help="run one workload")
    ap.add_argument("--size-gib", type=float, default=4.0,
                    help="workload B's memory in GiB (default 4)")
    ap.add_argument("--demo", action="store_true", help="cold start A, restore it 3 times")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per step")
    ap.add_argument("--keep", action="store_true", help="keep the snapshots")
    ap.add_argument("--lazy", action="store_true",
                    help="also time `thaw restore --lazy`: to running and to the first answer, "
                         "without and with a recorded working set (docs/lazy-restore.md)")
    ap.add_argument("--json", help="output file (default BUILD/bench.json)")
    opts = ap.parse_args(argv)
    if not 1 <= opts.runs <= 101:
        ap.error("--runs must be between 1 and 101")
    if not 0 < opts.size_gib <= 1024:
        ap.error("--size-gib must be in (0, 1024]")
    opts.build = os.path.abspath(opts.build)
    opts.thaw = os.path.abspath(opts.thaw or os.path.join(opts.build, "thaw"))
    opts.json = os.path.abspath(opts.json or os.path.join(opts.build, "bench.json"))
    opts.workdir = os.path.join(opts.build, "bench-work")
    opts.workload_b = os.path.join(opts.build, "bench", "workload-b")
    opts.ceiling = os.path.join(opts.build, "bench", "ceiling")
    return opts


def on_sigterm(signum, frame):
    # the same exit path as ^C, so the finally in main() kills everything
    raise KeyboardInterrupt()


def main(argv):
    opts = parse_args(argv)
    needed = [opts.thaw] if opts.demo else [opts.thaw, opts.ceiling]
    if not opts.demo and opts.only != "a":
        needed.append(opts.workload_b)
    for path in needed:
        if not os.access(path, os.X_OK):
            print(f"thaw bench: {path} is missing; build it first "
                  f"({'make' if path == opts.thaw else 'bench/bench.sh builds it'})",
                  file=sys.stderr)
            return 2
    os.makedirs(opts.workdir, mode=0o700, exist_ok=True)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return demo(opts) if opts.demo else bench(opts)
    except (BenchError, OSError, subprocess.TimeoutExpired) as e:
        print(f"thaw {'demo' if opts.demo else 'bench'}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("thaw bench: interrupted", file=sys.stderr)
        return 130
    finally:
        PROCS.kill_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
