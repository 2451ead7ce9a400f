#!/usr/bin/env python3
"""mktree.py DIR - a tree with every kind of file and edge ImageFS must keep:
regular, empty, sparse (a hole of 2 GiB, then data; a file ending in a
hole), large (12 MiB of random bytes and a run of zero pages inside),
three hard links to one file, symlinks (relative, absolute, dangling, to a
directory), names of 255 bytes and of non-ASCII bytes, xattrs (several,
binary values, on a directory too), a FIFO, a character device, a unix
socket, setuid/setgid/sticky modes, other owners, mtimes with nanoseconds,
an empty directory, deep nesting and a directory of 10,000 small files.
"""
import os
import random
import socket
import stat
import sys

root = sys.argv[1]
rnd = random.Random(14)
os.makedirs(root)


def p(*parts):
    return os.path.join(root, *parts)


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


write(p("hello"), b"hello, image\n")
write(p("empty"), b"")
big = bytearray(rnd.randbytes(12 << 20))
big[4 << 20:(4 << 20) + (256 << 10)] = bytes(256 << 10)  # zero pages inside data
write(p("big"), bytes(big), 0o4755)
with open(p("sparse"), "wb") as f:
    f.truncate(2 << 30)
    f.seek((2 << 30) - 5000)
    f.write(b"tail of a sparse file")
with open(p("sparse-end"), "wb") as f:
    f.write(b"head")
    f.truncate(300 << 20)
os.makedirs(p("links", "deeper"))
write(p("links", "one"), b"linked three times\n", 0o600)
os.link(p("links", "one"), p("links", "two"))
os.link(p("links", "one"), p("links", "deeper", "three"))
os.symlink("one", p("links", "rel"))
os.symlink("/etc/hostname", p("links", "abs"))
os.symlink("nowhere/at/all", p("links", "dangling"))
os.symlink("deeper", p("links", "todir"))
os.lchown(p("links", "rel"), 1234, 5678)
write(p("n" * 255), b"long name\n")
write(p("caf\xc3\xa9 \xe2\x9c\x93".encode().decode("utf-8", "surrogateescape")), b"utf-8 name\n")
write(p("x-bytes"), b"xattrs\n")
os.setxattr(p("x-bytes"), "user.one", b"1")
os.setxattr(p("x-bytes"), "user.bin", bytes(range(256)))
os.setxattr(p("x-bytes"), "user.empty", b"")
os.mkdir(p("xdir"))
os.setxattr(p("xdir"), "user.dir", b"on a directory")
os.mkfifo(p("fifo"), 0o640)
os.mknod(p("null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
s = socket.socket(socket.AF_UNIX)
s.bind(p("sock"))
s.close()
os.mkdir(p("sticky"), 0o1777)
os.chmod(p("sticky"), 0o1777)
os.mkdir(p("setgid"))
os.chmod(p("setgid"), 0o2750)
os.chown(p("setgid"), 42, 43)
write(p("owned"), b"owned by 1000:1000\n", 0o640)
os.chown(p("owned"), 1000, 1000)
os.mkdir(p("emptydir"))
deep = p(*["d%d" % i for i in range(40)])
os.makedirs(deep)
write(os.path.join(deep, "bottom"), b"deep\n")
os.mkdir(p("many"))
for i in range(10000):
    write(p("many", "f%05d.py" % i), ("# file %d\n" % i).encode() * (1 + i % 50))
# mtimes with nanoseconds, the directories last (writing into them moved theirs)
for dirpath, dirs, files in os.walk(root, topdown=False):
    for name in files + dirs:
        os.utime(os.path.join(dirpath, name), ns=(1700000000123456789, 1700000000 * 10**9
                                                  + rnd.randrange(10**9)),
                 follow_symlinks=False)
os.utime(root, ns=(1700000000123456789, 1712345678987654321))
