#!/usr/bin/env python3
"""image-tree.py OUT PKG... - a root filesystem of the machine's own files for
`make bench-image`: every file and symlink that `dpkg -L` lists for PKG and
for every installed package they depend on (Depends and Pre-Depends,
recursively; the first installed alternative), hard-linked (same file
system) or copied, with their directories' modes and owners; plus what
the dynamic loader and Debian's alternatives need at run time and no
package lists (/etc/ld.so.cache, /etc/ld.so.conf*, /etc/alternatives and the files
they choose, the /bin /lib /lib64 /sbin links of a merged /usr), the bytecode
that Debian's py3compile wrote at install time for the listed .py files
(__pycache__/NAME.*.pyc: no package lists it, every installed system has
it, and without it Python compiles each module on every start in a
read-only image), and empty /proc /dev /sys /tmp to mount on.  Prints the
package count, files and bytes as JSON.  Also: --app SRC DST adds the file
SRC at DST.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

out, pkgs = sys.argv[1], sys.argv[2:]
apps = []
while len(pkgs) >= 3 and pkgs[0] == "--app":
    apps.append((pkgs[1], pkgs[2]))
    pkgs = pkgs[3:]


def installed(name):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True,
                       text=True)
    return "install ok installed" in r.stdout


def deps(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", pkg],
                       capture_output=True, text=True)
    found = []
    for group in r.stdout.split(","):
        for alt in group.split("|"):
            name = re.split(r"[ (:]", alt.strip())[0]
            if name and installed(name):
                found.append(name)
                break
    return found


seen, todo = set(), list(pkgs)
while todo:
    p = todo.pop()
    if p not in seen:
        seen.add(p)
        todo += deps(p)
paths = set()
for p in seen:
    r = subprocess.run(["dpkg", "-L", p], capture_output=True, text=True)
    paths.update(x for x in r.stdout.split("\n") if x.startswith("/"))
for extra in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/bin", "/lib", "/lib64", "/sbin"):
    paths.add(extra)
for d in ("/etc/ld.so.conf.d", "/etc/alternatives"):
    for name in os.listdir(d):
        paths.add(os.path.join(d, name))
        if d == "/etc/alternatives":  # and what the chosen alternative is
            paths.add(os.path.realpath(os.path.join(d, name)))


# the links in /usr that point into /etc/alternatives (dpkg keeps their paths here)
for name in os.listdir("/var/lib/dpkg/alternatives"):
    with open(os.path.join("/var/lib/dpkg/alternatives", name)) as f:
        head = f.read().split("\n\n")[0]
    paths.update(x for x in head.split("\n") if x.startswith("/"))

# py3compile's bytecode of the listed modules
for x in list(paths):
    if x.endswith(".py"):
        d, name = os.path.split(x)
        paths.update(glob.glob(os.path.join(glob.escape(d), "__pycache__",
                                            glob.escape(name[:-3]) + ".*.pyc")))


def make_parents(path):
    parts = path.strip("/").split("/")[:-1]
    cur = ""
    for part in parts:
        cur += "/" + part
        dst = out + cur
        if os.path.lexists(dst):
            continue
        st = os.lstat(cur)
        if os.path.islink(cur):
            os.symlink(os.readlink(cur), dst)
            continue
        os.mkdir(dst)
        os.chmod(dst, st.st_mode & 0o7777)
        os.chown(dst, st.st_uid, st.st_gid)


files = size = 0
os.makedirs(out)
# through the real directories: /bin/tar of a merged /usr is /usr/bin/tar
paths = {os.path.join(os.path.realpath(os.path.dirname(x)), os.path.basename(x))
         if x not in ("/bin", "/lib", "/lib64", "/sbin") else x for x in paths}
for path in sorted(paths):
    if not os.path.lexists(path):
        continue
    dst = out + path
    make_parents(path)
    if os.path.lexists(dst):
        continue
    if os.path.islink(path):
        os.symlink(os.readlink(path), dst)
    elif os.path.isfile(path):
        try:
            os.link(path, dst)
        except OSError:
            shutil.copy2(path, dst)
        files += 1
        size += os.path.getsize(path)
for src, dst in apps:
    os.makedirs(os.path.dirname(out + dst), exist_ok=True)
    shutil.copy2(src, out + dst)
    files += 1
    size += os.path.getsize(src)
for d in ("proc", "dev", "sys", "tmp"):
    os.makedirs(os.path.join(out, d), exist_ok=True)
os.chmod(os.path.join(out, "tmp"), 0o1777)
print(json.dumps({"packages": len(seen), "files": files, "bytes": size}))
