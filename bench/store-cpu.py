#!/usr/bin/python3
"""store-cpu.py - thaw's own CPU for a restore of workload B from the disk tier, with
several builds taking turns (docs/store-engine.md, issue 17).

    bench/store-cpu.py [--runs N] [--size-gib G] NAME=BUILD...

Workload B (BUILD/bench/workload-b of the first build, `make bench` builds it) is
dumped to a plain directory and put into a local store with the first build's thaw;
then, run by run, the plain restore (first build) and a restore from the store with
each build's thaw, each killed by PID afterwards.  Per build: the median wall time
(and its share of the plain restore's) and the median CPU time of the thaw command
itself (user + system): on a shared machine wall time moves by a factor of two or
more within a run, CPU time far less, and from a store it is the whole fill.
"""
import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def once(thaw, args, pidf):
    if os.path.exists(pidf):
        os.unlink(pidf)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([thaw, "restore"] + args + ["--detach", "--pidfile", pidf], check=True,
                   stdin=subprocess.DEVNULL)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(pidf) as f:
        pid = int(f.read())
    with open("/proc/%d/stat" % pid) as f:
        init = int(f.read().rsplit(")", 1)[1].split()[1])
    for p in (pid, init):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.2)
    return t1 - t0, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--size-gib", default="1")
    ap.add_argument("builds", nargs="+", metavar="NAME=BUILD")
    a = ap.parse_args()
    builds = [(b.split("=", 1)[0], os.path.join(os.path.abspath(b.split("=", 1)[1]), "thaw"))
              for b in a.builds]
    first = os.path.dirname(builds[0][1])
    tmp = tempfile.mkdtemp(prefix="thaw-store-cpu.")
    snap, store, pidf = tmp + "/b.snap", tmp + "/store", tmp + "/pid"
    p = subprocess.Popen([first + "/bench/workload-b", a.size_gib], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "READY":
            sys.exit("workload-b did not start")
        subprocess.run([builds[0][1], "dump", "--pid", str(p.pid), "--dir", snap], check=True)
    finally:
        p.kill()
        p.wait()
    subprocess.run([builds[0][1], "store", "--store", store, "put", snap, "--name", "b"],
                   check=True, stdout=subprocess.DEVNULL)
    cases = [("plain", builds[0][1], ["--dir", snap])] + \
            [(n, t, ["--store", store, "--name", "b"]) for n, t in builds]
    once(builds[0][1], ["--dir", snap], pidf)  # the page cache warm for everyone
    res = {c[0]: [] for c in cases}
    for i in range(a.runs):
        k = i % len(cases)
        for name, thaw, args in cases[k:] + cases[:k]:
            res[name].append(once(thaw, args, pidf))
    plain = statistics.median(w for w, _ in res["plain"])
    print("workload B (%s GiB), %d runs each, medians" % (a.size_gib, a.runs))
    for name, v in res.items():
        w = statistics.median(x for x, _ in v)
        c = statistics.median(x for _, x in v)
        print("  %-10s wall %7.1f ms (%3.0f%% of plain)  thaw CPU %7.1f ms" %
              (name, w * 1e3, 100 * plain / w, c * 1e3))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
