#!/usr/bin/python3
"""store.py - `make bench`, the snapshot store part (docs/store.md, issue 4).

1. Snapshot bytes.  Two different torch workers (bench/workload_a.py and
   tests/programs/torch_worker.py) are dumped to plain directories, and
   workload A is dumped twice (--leave-running, one second apart).  Each is
   put into a fresh local store with `thaw store put`; reported per snapshot:
   bytes of its files (logical), after zero elision (non-zero pages), and
   the store's growth in unique (uncompressed) and stored (compressed) chunk
   bytes; then the growth when the second worker, or the same worker again,
   is put beside the first.  Then the dedup of one worker (examples/worker.py)
   snapshotted in two separate `thaw run` cold starts into one chunk store,
   with normal address-space randomisation and with --fixed-layout (no
   address-space randomisation, a hash seed of the launch key), each with the
   default 256 KiB chunks and with 64 KiB chunks (thaw run --chunk-size);
   bench/snapdiff.py compares two snapshots page by page.
2. Restore throughput, same run, same snapshot (workload B: N GiB of
   incompressible memory, 8 threads; and workload A): `thaw restore --detach`
   wall time from a plain directory, from a local store (warm disk tier: the
   chunk files are in the page cache) and from an HTTP store on loopback
   (Debian nginx, WebDAV config of tests/store/ but with one worker per CPU,
   started here and stopped by PID) with an empty cache each run (every
   chunk crosses HTTP), and from an S3 store on loopback (Ceph's radosgw on
   a one-node memstore cluster, tests/store/rgw.sh, when Debian's ceph is
   installed) the same way.  A store restore checks every chunk (SHA-256
   behind a URL, the CRC from the disk tier: docs/store.md "Trust") and
   writes the pages straight into the restored process: nothing is kept
   between runs.  --before BUILD also restores from the disk tier with
   another build's thaw, taking turns with the rest.  --local-only leaves
   out the HTTP and S3 tiers (no nginx, no radosgw); an S3 put that fails
   (a loaded radosgw times out) loses the S3 figures only.
   The RAM tier lives in one process, so no CLI restore reaches it:
   BUILD/bench/store-ram restores the snapshot several times in itself (the
   first from the disk tier fills the RAM tier, the others read RAM only)
   and, each round, from the plain directory in the same process; reported
   beside the others with its own plain figure.  Two times per restore: the wall time of the command,
   and the time until the program runs again ("to running": the wall time
   less what thaw does after that, which it logs with -v: behind a URL,
   filling the local cache with the chunks it fetched).
   Beside them, thaw's own CPU time (user + system, from the rusage of
   the command): it moves least when the machine is shared, and from a
   store it is the whole fill.
   Throughput = bytes of the snapshot's files / time.  The sources take
   turns run by run.
3. The ceiling the digest sets, same run: SHA-256 throughput on every CPU
   (hashlib, one thread per CPU, 1 MiB buffers), and for each workload the
   time the plain restore would take if it also had to hash every byte of
   its pages on all CPUs (plain + bytes / that rate): a restore that checks
   every chunk cannot beat it where the plain restore already keeps every
   CPU busy (docs/store-engine.md).

Every process started here is killed by PID.  Output: a table and JSON
(--out, default $BUILD/bench-store.json).  MB = 1e6 bytes, GB/s = 1e9 B/s.
"""
import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Debian's python3 with python3-torch; another machine (the GPU host's venv) can say which
PYTHON = os.environ.get("THAW_BENCH_PYTHON", "/usr/bin/python3")
PAGE = 4096


class BenchError(Exception):
    pass


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        raise BenchError("%s exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr[-600:]))
    return r.stdout


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def kill_pid(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def parent_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def start(cmd):
    """Starts a worker, waits for READY; returns the Popen."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if line.strip() != "READY":
        p.kill()
        p.wait()
        raise BenchError("%s did not print READY (got %r)" % (cmd[-1], line))
    return p


def dump(thaw, pid, out, *extra):
    run([thaw, "dump", "--pid", str(pid), "--dir", out] + list(extra))


# ------------------------------------------------------------ snapshot bytes

def dir_bytes(d):
    """(logical, non-zero) bytes of the files of a snapshot directory."""
    logical = nonzero = 0
    zero = bytes(PAGE)
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        logical += os.path.getsize(path)
        with open(path, "rb") as f:
            while True:
                buf = f.read(PAGE * 256)
                if not buf:
                    break
                for o in range(0, len(buf), PAGE):
                    page = buf[o:o + PAGE]
                    if page != zero[:len(page)]:
                        nonzero += len(page)
    return logical, nonzero


def store_bytes(store):
    """(unique uncompressed, stored) bytes of the chunk files of a disk store."""
    unique = stored = 0
    for top, _, files in os.walk(os.path.join(store, "chunks")):
        for name in files:
            path = os.path.join(top, name)
            with open(path, "rb") as f:
                head = f.read(24)
            if len(head) == 24 and head[:4] == b"THCK":
                unique += struct.unpack_from("<I", head, 8)[0]
                stored += os.path.getsize(path)
    return unique, stored


def put(thaw, store, snap, name):
    run([thaw, "store", "--store", store, "put", snap, "--name", name])
    return store_bytes(store)


def mb(n):
    return round(n / 1e6, 1)


def sizes(thaw, tmp, procs):
    a_cmd = [PYTHON, os.path.join(ROOT, "bench/workload_a.py")]
    t_cmd = [PYTHON, os.path.join(ROOT, "tests/programs/torch_worker.py")]
    a = start(a_cmd)
    procs.append(a)
    dump(thaw, a.pid, os.path.join(tmp, "a1"), "--leave-running")
    time.sleep(1)
    dump(thaw, a.pid, os.path.join(tmp, "a2"))
    a.wait()
    t = start(t_cmd)
    procs.append(t)
    dump(thaw, t.pid, os.path.join(tmp, "t"))
    t.wait()
    res = {"snapshots": {}}
    for n in ("a1", "a2", "t"):
        logical, nonzero = dir_bytes(os.path.join(tmp, n))
        res["snapshots"][n] = {"logical_bytes": logical, "nonzero_bytes": nonzero}
    s1 = os.path.join(tmp, "s1")
    u1, st1 = put(thaw, s1, os.path.join(tmp, "a1"), "a1")
    u2, st2 = put(thaw, s1, os.path.join(tmp, "t"), "t")
    s2 = os.path.join(tmp, "s2")
    put(thaw, s2, os.path.join(tmp, "a1"), "a1")
    u3, st3 = put(thaw, s2, os.path.join(tmp, "a2"), "a2")
    res["snapshots"]["a1"].update(unique_bytes=u1, stored_bytes=st1)
    res["two_workers"] = {"unique_bytes": u2, "stored_bytes": st2,
                          "added_stored_bytes": st2 - st1,
                          "ratio_to_one": round(st2 / st1, 3) if st1 else None}
    res["same_worker_twice"] = {"unique_bytes": u3, "stored_bytes": st3,
                                "added_stored_bytes": st3 - st1,
                                "ratio_to_one": round(st3 / st1, 3) if st1 else None}
    res["run_twice"] = run_twice(thaw, tmp)
    for n in ("s1", "s2"):
        shutil.rmtree(os.path.join(tmp, n))
    return res


# ------------------------------------------- the same worker, two thaw run cold starts

WORKER = os.path.join(ROOT, "examples/worker.py")
RUN_VARIANTS = [
    # (label, thaw run options, environment added)
    ("randomised", [], {}),
    ("fixed_layout", ["--fixed-layout"], {}),
    ("randomised_64k", ["--chunk-size", "65536"], {}),
    ("fixed_layout_64k", ["--fixed-layout", "--chunk-size", "65536"], {}),
]


def thaw_run_cold(thaw, store, opts, env):
    """One cold start of examples/worker.py under thaw run into a chunk store; it must
    snapshot.  Returns the snapshot's key."""
    r = subprocess.run([thaw, "run", "--store", store, "--chunk-store"] + opts +
                       ["--", PYTHON, WORKER], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    m = re.search(r"snapshot created worker ([0-9a-f]+) ", r.stderr)
    if r.returncode != 0 or "cold start: no snapshot yet" not in r.stderr or not m:
        raise BenchError("thaw run %s: %d %s" % (" ".join(opts), r.returncode, r.stderr[-600:]))
    return m.group(1)


def run_twice(thaw, tmp):
    """The dedup of the same worker snapshotted in two separate thaw run cold starts into
    one chunk store (disk tier, LZ4): the store's growth when the second snapshot joins the
    first.  Between the two starts `thaw snapshots rm` drops the first one's names (its
    chunks stay), so the second start is cold too.  With and without --fixed-layout, with
    the default chunks and with 64 KiB ones."""
    out = {"worker": "examples/worker.py", "chunk_avg_bytes_default": 256 << 10}
    for label, opts, extra in RUN_VARIANTS:
        store = os.path.join(tmp, "run-" + label)
        env = dict(os.environ)
        env.pop("PYTHONHASHSEED", None)
        env.update(extra)
        thaw_run_cold(thaw, store, opts, env)
        u1, st1 = store_bytes(store)
        run([thaw, "snapshots", "--store", store, "rm", "worker"])
        thaw_run_cold(thaw, store, opts, env)
        u2, st2 = store_bytes(store)
        out[label] = {"thaw_run_options": opts, "env": extra,
                      "one": {"unique_bytes": u1, "stored_bytes": st1},
                      "two": {"unique_bytes": u2, "stored_bytes": st2},
                      "ratio_unique": round(u2 / u1, 3) if u1 else None,
                      "ratio_stored": round(st2 / st1, 3) if st1 else None}
        shutil.rmtree(store, ignore_errors=True)
    return out


# ------------------------------------------------------------ restore speed

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The tests' config runs one nginx process (master_process off), which is all
# they need and is stopped by one kill.  Measured here is the store, not one
# nginx process on two cores: a master with one worker per CPU (as root, to
# read the temporary directory), stopped by SIGTERM to the master, which
# ends its workers before it exits.
NGINX_BENCH = (("master_process off;", "master_process on;\nuser root;"),
               ("worker_processes 1;", "worker_processes auto;"))


def nginx_stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_pid(p.pid)
            p.wait()


def nginx_start(tmp, procs):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        return None, None
    d = os.path.join(tmp, "nginx")
    www = os.path.join(tmp, "www")
    os.makedirs(d)
    os.makedirs(www)
    with open(os.path.join(ROOT, "tests/store/nginx.conf.in")) as f:
        conf_in = f.read()
    for old, new in NGINX_BENCH:
        if old not in conf_in:
            raise BenchError("tests/store/nginx.conf.in has no %r any more" % old)
        conf_in = conf_in.replace(old, new)
    for _ in range(10):
        port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(conf_in.replace("@DIR@", d).replace("@ROOT@", www)
                    .replace("@PORT@", str(port)))
        p = subprocess.Popen([nginx, "-e", os.path.join(d, "error.log"), "-c", conf, "-p", d],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return p, "http://127.0.0.1:%d/store" % port
            except OSError:
                if p.poll() is not None:
                    break
                time.sleep(0.05)
        nginx_stop(p)
    return None, None


S3_CREDS = {"AWS_ACCESS_KEY_ID": "THAWTESTKEY", "AWS_SECRET_ACCESS_KEY": "thawtestsecret",
            "AWS_REGION": "us-east-1"}  # what tests/store/rgw.sh creates


def rgw_start(tmp, build):
    """radosgw through tests/store/rgw.sh (a bash that keeps the cluster until it is
    terminated, its lib.sh then killing every daemon by PID): (process, endpoint)."""
    if not shutil.which("radosgw"):
        return None, None
    epf = os.path.join(tmp, "rgw.endpoint")
    script = ('. tests/lib.sh; . tests/store/rgw.sh; rgw_start; s3_bucket bench; '
              'echo "$S3_ENDPOINT" >"$0.tmp" && mv "$0.tmp" "$0"; while :; do sleep 1; done')
    log = open(os.path.join(tmp, "rgw.log"), "w")
    p = subprocess.Popen(["bash", "-c", script, epf], cwd=ROOT, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, env=dict(os.environ, BUILD=build))
    for _ in range(180 * 4):
        if os.path.exists(epf) or p.poll() is not None:
            break
        time.sleep(0.25)
    if not os.path.exists(epf):
        rgw_stop(p)
        return None, None
    with open(epf) as f:
        return p, f.read().strip()


def rgw_stop(p):
    p.terminate()  # lib.sh's traps kill the daemons
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_pid(p.pid)
        p.wait()


AFTER_RE = re.compile(r"after the program runs, .* in ([0-9.]+) ms")


def restore_once(thaw, args, tmp, env=None):
    """thaw -v restore ARGS --detach: (wall seconds, seconds of it after the program ran
    again, CPU seconds of thaw itself: user + system); the restored program and its init
    are killed.  thaw's CPU moves least when the machine is shared; from a store it is
    the whole fill (the restored process's own work, a plain restore's copy, is not in it)."""
    pidf = os.path.join(tmp, "restore.pid")
    if os.path.exists(pidf):
        os.unlink(pidf)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([thaw, "-v", "restore"] + args + ["--detach", "--pidfile", pidf],
                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    pid = 0
    try:
        with open(pidf) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        pass
    if pid > 1:
        init = parent_of(pid)
        kill_pid(pid)
        if init > 1 and init != os.getpid():
            kill_pid(init)
        for _ in range(200):
            if not alive(pid):
                break
            time.sleep(0.01)
    if r.returncode != 0:
        raise BenchError("thaw restore %s exited %d: %s" %
                         (" ".join(args), r.returncode, r.stderr[-600:]))
    m = AFTER_RE.search(r.stderr)
    return t1 - t0, float(m.group(1)) / 1e3 if m else 0.0, cpu


def speed(thaw, tmp, label, cmd, runs, url, before=None, s3=None):
    """Restore figures for one workload from every reachable tier (and, with before,
    the disk tier through another build's thaw, taking turns with the rest)."""
    p = start(cmd)
    snap = os.path.join(tmp, label + ".snap")
    try:
        dump(thaw, p.pid, snap)
    finally:
        kill_pid(p.pid)
        p.wait()
    total = sum(os.path.getsize(os.path.join(snap, n)) for n in os.listdir(snap))
    store = os.path.join(tmp, label + ".store")
    run([thaw, "store", "--store", store, "put", snap, "--name", label])
    if url:
        run([thaw, "store", "--store", url, "--cache", os.path.join(tmp, "putcache"),
             "put", snap, "--name", label])
    s3env = dict(os.environ, **S3_CREDS)
    s3args = ["--store", "s3://bench/" + label, "--s3-endpoint", s3 or ""]
    out = {"snapshot_bytes": total, "runs": runs, "tiers": {}}
    if s3:
        # a put the loaded server times out loses the S3 figures, not the whole run
        try:
            run([thaw, "store"] + s3args + ["--cache", os.path.join(tmp, "s3putcache"),
                                            "put", snap, "--name", label], env=s3env)
        except BenchError as e:
            out["tiers"]["s3_loopback_cold_cache"] = "not measured: the put failed: %s" % e
            s3 = None
    cases = [("plain_dir", ["--dir", snap]), ("disk_warm", ["--store", store, "--name", label])]
    if before:
        cases.append(("disk_warm_before", ["--store", store, "--name", label]))
    if url:
        cases.append(("http_loopback_cold_cache", None))
    if s3:
        cases.append(("s3_loopback_cold_cache", "s3"))
    restore_once(thaw, ["--dir", snap], tmp)  # page cache warm for everyone
    # the tiers take turns, run by run, so that a slow spell of the machine
    # (other people's work, the host) falls on all of them alike
    times = {name: [] for name, _ in cases}
    running = {name: [] for name, _ in cases}
    cpus = {name: [] for name, _ in cases}
    for i in range(runs):
        for name, args in cases:
            a, env = args, None
            if a is None or a == "s3":
                cache = os.path.join(tmp, "cache-%s-%d" % (label, i))
                a = (["--store", url] if a is None else s3args) + ["--cache", cache,
                                                                   "--name", label]
                env = s3env if args == "s3" else None
            wall, after, cpu = restore_once(before if name.endswith("_before") else thaw, a,
                                            tmp, env)
            times[name].append(wall)
            cpus[name].append(cpu)
            running[name].append(wall - after)
            if args is None or args == "s3":
                shutil.rmtree(cache, ignore_errors=True)
                os.sync()  # the cache fill's writeback is not the next source's
    for name, _ in cases:
        med, med_r = statistics.median(times[name]), statistics.median(running[name])
        out["tiers"][name] = {"ms": [round(t * 1e3, 1) for t in times[name]],
                              "median_ms": round(med * 1e3, 1),
                              "gb_per_s": round(total / med / 1e9, 3),
                              "to_running_ms": [round(t * 1e3, 1) for t in running[name]],
                              "median_to_running_ms": round(med_r * 1e3, 1),
                              "gb_per_s_to_running": round(total / med_r / 1e9, 3),
                              "median_thaw_cpu_ms": round(statistics.median(cpus[name]) * 1e3,
                                                          1)}
    out["tiers"]["ram"] = ram_tier(thaw, store, label, snap, runs)
    plain = out["tiers"]["plain_dir"]
    for name in ("disk_warm", "disk_warm_before", "http_loopback_cold_cache",
                 "s3_loopback_cold_cache"):
        if isinstance(out["tiers"].get(name), dict):
            t = out["tiers"][name]
            t["vs_plain"] = round(t["gb_per_s"] / plain["gb_per_s"], 3)
            t["vs_plain_to_running"] = round(t["gb_per_s_to_running"] /
                                             plain["gb_per_s_to_running"], 3)
    out["pages_bytes"] = os.path.getsize(os.path.join(snap, "pages.img"))
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(snap, ignore_errors=True)
    return out


def ram_tier(thaw, store, label, snap, runs):
    """The RAM tier lives in one process: BUILD/bench/store-ram restores the snapshot
    runs + 1 times in itself, from the store (the first fills the RAM tier, the
    rest read only RAM) and, each round, from the plain directory."""
    prog = os.path.join(os.path.dirname(thaw), "bench", "store-ram")
    if not os.access(prog, os.X_OK):
        return "not measured: %s is missing (make bench builds it)" % prog
    r = subprocess.run([prog, store, label, snap, str(runs + 1)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise BenchError("store-ram exited %d: %s" % (r.returncode, r.stderr[-600:]))
    ms = {"plain": {}, "store": {}}
    for line in r.stdout.splitlines():
        kind, rnd, t = line.split()
        ms[kind][int(rnd)] = float(t)
    ram = [ms["store"][i] for i in sorted(ms["store"]) if i > 0]
    plain = [ms["plain"][i] for i in sorted(ms["plain"]) if i > 0]
    total = sum(os.path.getsize(os.path.join(snap, n)) for n in os.listdir(snap))
    med, med_p = statistics.median(ram), statistics.median(plain)
    return {"how": "in one process (bench/store-ram): restores after the first",
            "to_running_ms": ram, "median_to_running_ms": round(med, 1),
            "gb_per_s_to_running": round(total / med / 1e6, 3),
            "first_from_disk_ms": ms["store"].get(0),
            "plain_same_process_ms": plain,
            "median_plain_same_process_ms": round(med_p, 1),
            "vs_plain_same_process": round(med_p / med, 3)}


def sha_rate():
    """SHA-256 bytes per second on every CPU at once (hashlib drops the GIL)."""
    cpus = os.cpu_count() or 1
    buf = os.urandom(1 << 20)
    per = 256  # MiB per thread

    def work():
        for _ in range(per):
            hashlib.sha256(buf).digest()

    best = 0.0
    for _ in range(3):
        ts = [threading.Thread(target=work) for _ in range(cpus)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        best = max(best, cpus * per * (1 << 20) / (time.perf_counter() - t0))
    return {"cpus": cpus, "gb_per_s": round(best / 1e9, 3)}


def add_ceiling(d, sha):
    """The plain restore plus hashing its pages on every CPU: what a verifying restore can reach."""
    plain = d["tiers"]["plain_dir"]["median_to_running_ms"] / 1e3
    hashing = d["pages_bytes"] / (sha["gb_per_s"] * 1e9)
    d["ceiling"] = {"sha_ms": round(hashing * 1e3, 1),
                    "plain_plus_sha_ms": round((plain + hashing) * 1e3, 1),
                    "vs_plain": round(plain / (plain + hashing), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--out")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-gib", type=float, default=1.0, help="workload B's memory")
    ap.add_argument("--skip-sizes", action="store_true")
    ap.add_argument("--skip-restore", action="store_true", help="sizes and dedup only")
    ap.add_argument("--local-only", action="store_true",
                    help="restore from the plain directory, the disk and RAM tiers only "
                    "(no nginx, no radosgw)")
    ap.add_argument("--before", metavar="BUILD",
                    help="also restore from the disk tier with BUILD/thaw (another version), "
                    "taking turns with the other sources")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    thaw = os.path.join(build, "thaw")
    before = os.path.join(os.path.abspath(args.before), "thaw") if args.before else None
    out_path = args.out or os.path.join(build, "bench-store.json")
    tmp = tempfile.mkdtemp(prefix="thaw-bench-store.")
    procs = []
    nginx = rgw = None
    result = {"machine": {"cpus": os.cpu_count(), "kernel": os.uname().release}}
    rc = 0
    try:
        if not args.skip_sizes:
            result["sizes"] = sizes(thaw, tmp, procs)
        remote = not args.skip_restore and not args.local_only
        nginx, url = nginx_start(tmp, procs) if remote else (None, None)
        if not url and remote:
            result["http"] = "nginx missing or did not start: no HTTP figures"
        elif url:
            result["nginx"] = "tests/store/nginx.conf.in with a master and one worker per CPU"
        rgw, s3 = rgw_start(tmp, build) if remote else (None, None)
        if s3:
            result["s3"] = "radosgw (Debian's Ceph 16) on a one-node memstore cluster"
        elif remote:
            result["s3"] = "radosgw missing or did not start: no S3 figures"
        result["restore"] = {} if args.skip_restore else {
            "workload_b": speed(thaw, tmp, "b", [os.path.join(build, "bench/workload-b"),
                                                 str(args.size_gib)], args.runs, url, before, s3),
            "workload_a": speed(thaw, tmp, "a", [PYTHON,
                                                 os.path.join(ROOT, "bench/workload_a.py")],
                                args.runs, url, before, s3),
        }
        if result["restore"]:
            result["sha256"] = sha_rate()
            for d in result["restore"].values():
                add_ceiling(d, result["sha256"])
    except (BenchError, OSError) as e:
        print("bench/store.py: %s" % e, file=sys.stderr)
        result["error"] = str(e)
        rc = 1
    finally:
        for p in procs:
            if p.poll() is None:
                kill_pid(p.pid)
                p.wait()
        if nginx:
            nginx_stop(nginx)
        if rgw:
            rgw_stop(rgw)
        shutil.rmtree(tmp, ignore_errors=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    report(result, out_path)
    return rc


def report(r, out_path):
    s = r.get("sizes")
    if s:
        print("\nsnapshot bytes (MB)       logical  non-zero  unique  stored")
        a = s["snapshots"]["a1"]
        print("workload A                %7.1f  %8.1f  %6.1f  %6.1f" %
              (mb(a["logical_bytes"]), mb(a["nonzero_bytes"]), mb(a["unique_bytes"]),
               mb(a["stored_bytes"])))
        for k, what in (("two_workers", "+ torch_worker (another)"),
                        ("same_worker_twice", "+ workload A again")):
            print("%-25s store %.1f MB stored (+%.1f MB, %.2fx one)" %
                  (what, mb(s[k]["stored_bytes"]), mb(s[k]["added_stored_bytes"]),
                   s[k]["ratio_to_one"] or 0))
        rt = s.get("run_twice")
        if rt:
            print("\n%s, two thaw run cold starts into one chunk store (MB):" % rt["worker"])
            print("  %-24s %10s %10s %10s %10s %7s %7s" % ("", "one uniq", "one stored",
                                                         "two uniq", "two stored", "uniq x",
                                                         "stored x"))
            for label, _, _ in RUN_VARIANTS:
                v = rt[label]
                print("  %-24s %10.1f %10.1f %10.1f %10.1f %6.2fx %6.2fx" %
                      (label, mb(v["one"]["unique_bytes"]), mb(v["one"]["stored_bytes"]),
                       mb(v["two"]["unique_bytes"]), mb(v["two"]["stored_bytes"]),
                       v["ratio_unique"] or 0, v["ratio_stored"] or 0))
    for w, d in r.get("restore", {}).items():
        print("\nrestore %s (%.1f MB)   to running                     command wall time" %
              (w, mb(d["snapshot_bytes"])))
        for t, v in d["tiers"].items():
            if t == "ram" and isinstance(v, dict):
                print("  %-26s %8.1f ms %6.2f GB/s (%.0f%% of the plain restore in that "
                      "process, %.1f ms)" %
                      ("ram (one process)", v["median_to_running_ms"], v["gb_per_s_to_running"],
                       100 * v["vs_plain_same_process"], v["median_plain_same_process_ms"]))
            elif isinstance(v, dict):
                print("  %-26s %8.1f ms %6.2f GB/s%-10s %8.1f ms %6.2f GB/s%s" %
                      (t, v["median_to_running_ms"], v["gb_per_s_to_running"],
                       " (%.0f%%)" % (100 * v["vs_plain_to_running"])
                       if "vs_plain" in v else "",
                       v["median_ms"], v["gb_per_s"],
                       " (%.0f%%)" % (100 * v["vs_plain"]) if "vs_plain" in v else ""))
            else:
                print("  %-26s %s" % (t, v))
        print("  %-26s %s" % ("thaw's own CPU (median)", ", ".join(
            "%s %.0f ms" % (t, v["median_thaw_cpu_ms"]) for t, v in d["tiers"].items()
            if isinstance(v, dict) and "median_thaw_cpu_ms" in v)))
        c = d.get("ceiling")
        if c:
            print("  %-26s %8.1f ms (%.0f%%): plain + SHA-256 of %.1f MB on every CPU" %
                  ("ceiling, verified", c["plain_plus_sha_ms"], 100 * c["vs_plain"],
                   mb(d["pages_bytes"])))
        print("  (%: throughput relative to the plain directory, same run)")
    if r.get("sha256"):
        print("SHA-256 on %d CPUs: %.2f GB/s" % (r["sha256"]["cpus"], r["sha256"]["gb_per_s"]))
    print("\nJSON: %s" % out_path)


if __name__ == "__main__":
    sys.exit(main())
