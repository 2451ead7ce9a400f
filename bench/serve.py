#!/usr/bin/python3
"""serve.py - thaw serve under bursts from zero, with and without snapshots.

The worker is examples/app.py (imports torch, builds and warms an MLP, one
forward pass per request).  For each mode:

  snapshots    thaw serve --min-warm 0: the first worker is cold and
               snapshotted, every later one is restored;
  no-snapshot  the same with --no-snapshot: every worker starts cold;

from zero workers, a burst of BURST requests from CLIENTS concurrent clients
(each on its own keep-alive connection), then idle until the scale-down window
has taken every worker away, then a second burst.  Per request: time to first
byte (request sent to the response's status line and header read), from which
P50/P90/P99/max per burst.  Per worker: its start kind and the time from its
start to its ready path's first 2xx (serve's worker_ready events).

Then steady state: requests/s through thaw serve (one warm worker, K=CLIENTS)
against the same worker program reached directly on its port, CLIENTS clients
for SECONDS each: the proxy's cost.

Everything runs on loopback; load is bounded (BURST requests, or SECONDS).
Every process is started with Popen and killed by PID on every way out.
Output: a table and $BUILD/bench-serve.json.  Python standard library only.

  bench/serve.py [--build DIR] [--burst 64] [--clients 16] [--window 3] [--seconds 10]
  bench/serve.py --soak 20     (make soak-serve: 20 cycles of a burst from zero and
                                back to zero; fails if serve's fds or threads, the
                                or descendants, or the mount table grew, or a request
                                failed; serve's RSS and the system's processes and
                                network namespaces are reported)
"""
import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"  # Debian's, with python3-torch
APP = os.path.join(ROOT, "examples", "app.py")
PROCS = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def descendants(pid):
    out = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return out
    for k in kids:
        out.append(k)
        out.extend(descendants(k))
    return out


def kill_all():
    for p in PROCS:
        if p.poll() is None:
            for pid in [p.pid] + descendants(p.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            p.wait()


def get(conn, path):
    """One GET on a keep-alive connection; (seconds to the header, status)."""
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    ttfb = time.perf_counter() - t0
    resp.read()
    return ttfb, resp.status


def burst(port, total, clients, path="/predict"):
    """total requests from `clients` threads; every request's TTFB and status."""
    results, lock = [], threading.Lock()
    left = [total]

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not left[0]:
                    break
                left[0] -= 1
            try:
                r = get(conn, path)
            except (OSError, http.client.HTTPException) as e:
                r = (None, str(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            with lock:
                results.append(r)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def summary(results, wall):
    ok = [t * 1000 for t, st in results if t is not None and st == 200]
    return {"requests": len(results), "ok": len(ok), "wall_s": round(wall, 3),
            "ttfb_ms": {"p50": pct(ok, 50), "p90": pct(ok, 90), "p99": pct(ok, 99),
                        "max": max(ok) if ok else None},
            "errors": sorted(set(str(st) for t, st in results if t is None or st != 200))}


def admin_status(admin):
    conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
    conn.request("GET", "/status")
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond():
                return
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise RuntimeError("timed out waiting for " + what)


def events(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def start_serve(opts, tag, extra):
    port, admin = free_port(), free_port()
    store = os.path.join(opts.build, "bench-serve-store-" + tag)
    shutil.rmtree(store, ignore_errors=True)
    ev = os.path.join(opts.build, "bench-serve-%s.json" % tag)
    if os.path.exists(ev):
        os.unlink(ev)
    log = open(os.path.join(opts.build, "bench-serve-%s.log" % tag), "w")
    argv = [opts.thaw, "serve", "--listen", "127.0.0.1:%d" % port, "--admin",
            "127.0.0.1:%d" % admin, "--store", store, "--json-events", ev, "--ready-path",
            "/ready", "--warmup", "/predict", "--start-timeout", "300", "--queue",
            "1024", "--queue-timeout", "300"] + extra + ["--", PYTHON, APP]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    PROCS.append(p)
    wait_for(lambda: admin_status(admin) is not None, 30, "serve's admin endpoint")
    return p, port, admin, ev, store


def stop_serve(p, store):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        kill_all()
    shutil.rmtree(store, ignore_errors=True)


def worker_starts(ev, since_ms=0.0):
    return [{"worker": e["worker"], "kind": e["kind"], "ms": round(e["ms"], 1)}
            for e in events(ev) if e.get("event") == "worker_ready" and e["time_ms"] >= since_ms]


def bursts(opts, mode):
    extra = ["--min-warm", "0", "--max-workers", str(opts.max_workers), "--concurrency", "1",
             "--scaledown-window", str(opts.window)]
    if mode == "no-snapshot":
        extra.append("--no-snapshot")
    p, port, admin, ev, store = start_serve(opts, mode, extra)
    out = {}
    try:
        for n in (1, 2):
            since = max([e["time_ms"] for e in events(ev)] + [0.0])
            res, wall = burst(port, opts.burst, opts.clients)
            out["burst%d" % n] = summary(res, wall)
            out["burst%d" % n]["worker_starts"] = worker_starts(ev, since)
            wait_for(lambda: not admin_status(admin)["workers"], 120 + opts.window,
                     "scale to zero")
    finally:
        stop_serve(p, store)
    return out


def steady(opts):
    """req/s through serve (one warm worker, K = clients) and straight to the worker."""
    out = {}
    p, port, admin, ev, store = start_serve(
        opts, "steady", ["--min-warm", "1", "--max-workers", "1", "--concurrency",
                         str(opts.clients), "--scaledown-window", "600"])
    try:
        wait_for(lambda: any(w["state"] == "ready" for w in admin_status(admin)["workers"]),
                 300, "a ready worker")
        out["serve"] = rate(port, opts)
    finally:
        stop_serve(p, store)
    wport = free_port()
    env = dict(os.environ, PORT=str(wport))
    w = subprocess.Popen([PYTHON, APP], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(w)
    try:
        def up():
            c = http.client.HTTPConnection("127.0.0.1", wport, timeout=2)
            ok = get(c, "/ready")[1] == 200
            c.close()
            return ok
        wait_for(up, 120, "the direct worker")
        out["direct"] = rate(wport, opts)
    finally:
        w.kill()
        w.wait()
    out["overhead_pct"] = round(100.0 * (1 - out["serve"]["rps"] / out["direct"]["rps"]), 1)
    return out


def rate(port, opts):
    count, lock, stop = [0], threading.Lock(), time.perf_counter() + opts.seconds
    lat = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < stop:
            t, st = get(conn, "/predict")
            with lock:
                count[0] += st == 200
                lat.append(t * 1000)
        conn.close()

    burst(port, opts.clients * 4, opts.clients)  # warm the connections and the worker
    threads = [threading.Thread(target=client) for _ in range(opts.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"requests": count[0], "seconds": round(wall, 2), "rps": round(count[0] / wall, 1),
            "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2)}


def system_snapshot(serve_pid):
    """What a leak would grow: serve's fds, threads and RSS; the system's processes,
    network namespaces and mounts."""
    nets = set()
    procs = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        procs += 1
        try:
            nets.add(os.readlink("/proc/%s/ns/net" % d))
        except OSError:
            pass
    rss = 0
    with open("/proc/%d/status" % serve_pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open("/proc/self/mountinfo") as f:
        mounts = sum(1 for _ in f)
    return {"serve_fds": len(os.listdir("/proc/%d/fd" % serve_pid)),
            "serve_threads": len(os.listdir("/proc/%d/task" % serve_pid)),
            "serve_rss_kib": rss, "processes": procs, "net_namespaces": len(nets),
            "mounts": mounts, "serve_descendants": len(descendants(serve_pid))}


def soak(opts):
    """opts.soak cycles of: a burst from zero, then idle until every worker is gone."""
    extra = ["--min-warm", "0", "--max-workers", str(opts.max_workers), "--concurrency", "1",
             "--scaledown-window", str(opts.window)]
    p, port, admin, ev, store = start_serve(opts, "soak", extra)
    cycles = []
    try:
        for i in range(opts.soak):
            res, wall = burst(port, opts.burst, opts.clients)
            s = summary(res, wall)
            wait_for(lambda: not admin_status(admin)["workers"], 120 + opts.window,
                     "scale to zero")
            time.sleep(0.5)
            cycles.append({"cycle": i + 1, "ok": s["ok"], "requests": s["requests"],
                           "p99_ms": s["ttfb_ms"]["p99"], "after": system_snapshot(p.pid)})
            print("cycle %d: %d/%d ok, p99 %s ms, %s" % (i + 1, s["ok"], s["requests"],
                  fmt(s["ttfb_ms"]["p99"]), cycles[-1]["after"]), flush=True)
    finally:
        stop_serve(p, store)
    first, last = cycles[0]["after"], cycles[-1]["after"]
    # the system's process and namespace counts move with whatever else runs on the
    # machine: reported, not judged; serve's own (and the mount table) must not grow
    grown = {k: (first[k], last[k]) for k in ("serve_fds", "serve_threads", "mounts",
                                               "serve_descendants") if last[k] > first[k]}
    starts = {}
    for e in events(ev):
        if e.get("event") == "worker_ready":
            starts[e["kind"]] = starts.get(e["kind"], 0) + 1
    return {"cycles": cycles, "grown": grown, "starts": starts,
            "rss_kib_first_last": (first["serve_rss_kib"], last["serve_rss_kib"]),
            "failed_requests": sum(c["requests"] - c["ok"] for c in cycles)}


def fmt(v):
    return "-" if v is None else ("%.0f" % v if v >= 100 else "%.1f" % v)


def table(r):
    lines = ["thaw serve, %s: burst of %d requests from %d clients, from zero workers "
             "(max %d, K=1)" % (r["machine"], r["burst"], r["clients"], r["max_workers"]),
             "%-12s %-6s %8s %8s %8s %8s %6s  %s" % ("mode", "burst", "p50 ms", "p90 ms",
                                                   "p99 ms", "max ms", "ok", "worker starts")]
    for mode in ("snapshots", "no-snapshot"):
        for b in ("burst1", "burst2"):
            s = r[mode][b]
            starts = ", ".join("%s %s ms" % (w["kind"], fmt(w["ms"])) for w in s["worker_starts"])
            lines.append("%-12s %-6s %8s %8s %8s %8s %6s  %s" % (
                mode, b[-1], fmt(s["ttfb_ms"]["p50"]), fmt(s["ttfb_ms"]["p90"]),
                fmt(s["ttfb_ms"]["p99"]), fmt(s["ttfb_ms"]["max"]),
                "%d/%d" % (s["ok"], s["requests"]), starts))
    st = r["steady"]
    lines.append("steady state, %d clients, %g s: through serve %.1f req/s (p50 %.2f ms), "
                 "direct %.1f req/s (p50 %.2f ms): overhead %.1f%%" % (
                     r["clients"], r["seconds"], st["serve"]["rps"], st["serve"]["p50_ms"],
                     st["direct"]["rps"], st["direct"]["p50_ms"], st["overhead_pct"]))
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--burst", type=int, default=64)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--max-workers", type=int, default=4)
    ap.add_argument("--window", type=float, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--json", default=None)
    ap.add_argument("--soak", type=int, default=0,
                    help="instead: N cycles of a burst and a scale to zero; nothing may grow")
    opts = ap.parse_args(argv)
    opts.build = os.path.abspath(opts.build)
    opts.thaw = os.path.join(opts.build, "thaw")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    r = {"machine": "%s, %d CPUs, %s" % (platform.node(), os.cpu_count(), platform.release()),
         "burst": opts.burst, "clients": opts.clients, "max_workers": opts.max_workers,
         "seconds": opts.seconds, "window_s": opts.window}
    if opts.soak:
        try:
            r["soak"] = soak(opts)
        finally:
            kill_all()
        path = opts.json or os.path.join(opts.build, "bench-serve-soak.json")
        with open(path, "w") as f:
            json.dump(r, f, indent=1)
        k = r["soak"]
        print("soak: %d cycles, %d failed requests, worker starts %s, grown: %s, serve RSS "
              "%d -> %d KiB; JSON: %s" % (opts.soak, k["failed_requests"], k["starts"],
                                          k["grown"] or "nothing", k["rss_kib_first_last"][0],
                                          k["rss_kib_first_last"][1], path))
        return 1 if k["grown"] or k["failed_requests"] else 0
    try:
        r["snapshots"] = bursts(opts, "snapshots")
        r["no-snapshot"] = bursts(opts, "no-snapshot")
        r["steady"] = steady(opts)
    finally:
        kill_all()
    a = r["snapshots"]["burst2"]["ttfb_ms"]["p99"]
    b = r["no-snapshot"]["burst2"]["ttfb_ms"]["p99"]
    r["p99_ratio_burst2"] = round(a / b, 3) if a and b else None
    path = opts.json or os.path.join(opts.build, "bench-serve.json")
    with open(path, "w") as f:
        json.dump(r, f, indent=1)
    print(table(r))
    print("second burst P99, snapshots / no-snapshot: %s (target <= 0.1)" % r["p99_ratio_burst2"])
    print("JSON: " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
