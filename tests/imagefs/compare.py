#!/usr/bin/env python3
"""compare.py SRC MNT - the tree at MNT is SRC, byte for byte and stat for stat.

Per path: type and mode bits, uid, gid, mtime (ns), link count, device
number, size (not for directories: a directory's size is its file system's
own), symlink target, every xattr, every byte of every regular file; and
the hard links: two paths share an inode in MNT exactly when they do in SRC.
Prints each difference; exit 1 if any.
"""
import os
import stat
import sys

src, mnt = sys.argv[1], sys.argv[2]
bad = []
ino_map = {}


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in names}


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def check(rel):
    a, b = os.path.join(src, rel), os.path.join(mnt, rel)
    sa, sb = os.lstat(a), os.lstat(b)
    for field in ("st_mode", "st_uid", "st_gid", "st_mtime_ns", "st_nlink", "st_rdev"):
        if getattr(sa, field) != getattr(sb, field):
            bad.append("%s: %s %r != %r" % (rel, field, getattr(sa, field), getattr(sb, field)))
    if not stat.S_ISDIR(sa.st_mode) and sa.st_size != sb.st_size:
        bad.append("%s: size %d != %d" % (rel, sa.st_size, sb.st_size))
    if xattrs(a) != xattrs(b):
        bad.append("%s: xattrs differ" % rel)
    if stat.S_ISLNK(sa.st_mode) and os.readlink(a) != os.readlink(b):
        bad.append("%s: target differs" % rel)
    if stat.S_ISREG(sa.st_mode) and not same_bytes(a, b):
        bad.append("%s: contents differ" % rel)
    if not stat.S_ISDIR(sa.st_mode):
        prev = ino_map.setdefault(sa.st_ino, sb.st_ino)
        if prev != sb.st_ino:
            bad.append("%s: hard links not kept" % rel)


check(".")
for dirpath, dirs, files in os.walk(src):
    rel = os.path.relpath(dirpath, src)
    got = sorted(os.listdir(os.path.join(mnt, rel)))
    if got != sorted(dirs + files):
        bad.append("%s: names differ: %d in the image, %d in the tree" % (rel, len(got),
                                                                          len(dirs + files)))
        continue
    for name in dirs + files:
        check(os.path.normpath(os.path.join(rel, name)))
if len(set(ino_map.values())) != len(ino_map):
    bad.append("two inodes of the tree became one")
for line in bad[:20]:
    print("DIFF", line)
sys.exit(1 if bad else 0)
