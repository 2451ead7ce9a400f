#!/usr/bin/env python3
"""mksnap.py DIR SEED [--shared MIB] [--unique MIB]: a snapshot-shaped directory
for store tests: pages.img = UNIQUE MiB of data from SEED, 1 MiB of zero
pages, then SHARED MiB of data from seed 'shared' (the same in every
directory), then UNIQUE MiB more; small manifest.json, manifest.crc,
pages.idx, data.img.  The shared block sits at a different offset when
UNIQUE differs, as the same memory does in two snapshots."""
import argparse
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("seed")
ap.add_argument("--shared", type=int, default=8)
ap.add_argument("--unique", type=int, default=1)
a = ap.parse_args()


def data(seed, mib):
    r = random.Random(seed)
    return r.randbytes(mib << 20)


os.makedirs(a.dir, mode=0o700)
with open(os.path.join(a.dir, "pages.img"), "wb") as f:
    f.write(data(a.seed + "-a", a.unique))
    f.write(bytes(1 << 20))
    f.write(data("shared", a.shared))
    f.write(data(a.seed + "-b", a.unique))
for name, body in (("manifest.json", b'{"format":1,"seed":"%s"}\n' % a.seed.encode()),
                   ("manifest.crc", b"12345678\n"),
                   ("pages.idx", data(a.seed + "-idx", 0) + os.urandom(4096)),
                   ("data.img", b"x" * 10000 + a.seed.encode())):
    with open(os.path.join(a.dir, name), "wb") as f:
        f.write(body)
