"""sdk_worker.py - a Python program written with the thaw SDK, for tests.

    sdk_worker.py LOGFILE [EXIT_CODE]

snap=True hooks append "load" and "warm" to LOGFILE (so the test can count
them across starts); the snap=False hook appends "open", the bare
@thaw.enter one "bare" and the @thaw.enter() one "call" (both snap=False by
default, as in Modal); on_restore hooks append "restore".  After the snapshot
point it prints "result <r>", "state <n>" (memory made before the snapshot),
"loaded <ns>" and "entered <ns>" (the times load() and bare() ran: the first
is baked into the snapshot, the second must be fresh on every start),
"random <x>", "uuid <u>", then "READY", waits for
SIGUSR1 and exits with EXIT_CODE.  A SIGTERM handler prints "term" and
exits 143.  SDK_WORKER_MAP=FILE maps FILE before the snapshot point.
"""
import mmap
import os
import random
import signal
import sys
import time
import uuid

import thaw

LOG = sys.argv[1]
CODE = int(sys.argv[2]) if len(sys.argv) > 2 else 0


def log(word):
    with open(LOG, "a") as f:
        f.write(word + "\n")


@thaw.on_restore
def restored_hook():
    log("restore")


class Worker:
    @thaw.enter(snap=True)
    def load(self):
        log("load")
        self.loaded = time.time_ns()
        self.table = [i * i for i in range(100000)]
        random.seed(1234)  # every copy would share this stream without the reseed

    @thaw.enter(snap=True)
    def warm(self):
        log("warm")
        self.state = sum(self.table)
        path = os.environ.get("SDK_WORKER_MAP")
        if path:  # a file mapped at the snapshot point: touching it must force a cold start
            with open(path, "rb") as f:
                self.mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)

    @thaw.enter(snap=False)
    def open(self):
        log("open")

    @thaw.enter
    def bare(self):
        log("bare")
        self.entered = time.time_ns()

    @thaw.enter()
    def call(self):
        log("call")

    def run(self):
        print("result", thaw.result())
        print("state", self.state)
        print("loaded", self.loaded)
        print("entered", self.entered)
        print("random", random.random())
        print("uuid", uuid.uuid4())
        print("READY", flush=True)
        signal.signal(signal.SIGTERM, lambda *a: (print("term", flush=True), sys.exit(143)))
        got = []
        signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
        while not got:
            signal.pause()
        print("bye", flush=True)
        sys.exit(CODE)


print("starting", flush=True)
thaw.main(Worker)
