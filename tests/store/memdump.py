#!/usr/bin/env python3
"""memdump.py PID DIR: writes DIR/pages.img, the readable private memory of PID
(every page, in address order, read from /proc/PID/mem), to measure chunking
on real page data (docs/store.md).  Needs root or ptrace rights on PID."""
import os
import sys

pid, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
total = 0
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem, \
        open(os.path.join(out, "pages.img"), "wb") as img:
    for line in maps:
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        if f[1][0] != "r" or f[1][3] != "p" or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
            continue
        for off in range(lo, hi, 1 << 20):
            try:
                mem.seek(off)
                data = mem.read(min(1 << 20, hi - off))
            except OSError:
                continue  # e.g. a file mapping past its file's end
            img.write(data)
            total += len(data)
print(total)
