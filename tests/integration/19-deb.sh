#!/bin/bash
# 19-deb.sh - the Debian package (debian/), only in CI (CI=true): it installs
# into the machine's /usr.  Builds it from a copy of the tree with
# dpkg-buildpackage -b -us -uc, checks its contents with dpkg-deb -c, installs
# it with dpkg -i, uses what it installed (thaw, the C SDK through pkg-config,
# the Python SDK, man) and removes it with dpkg -r.
. "$(dirname "$0")/../lib.sh"
[ "${CI:-}" = true ] || skip "builds and installs a .deb: runs only with CI=true"
need_thaw
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v dpkg-buildpackage >/dev/null && dpkg -s debhelper >/dev/null 2>&1 ||
	fail "no dpkg-buildpackage or debhelper (scripts/deps.sh installs them when CI=true)"
if dpkg -s thaw >/dev/null 2>&1; then
	skip "a thaw package is installed already: not replaced"
fi
INSTALLED=
trap 'rc=$?; [ -n "$INSTALLED" ] && dpkg -r thaw >/dev/null 2>&1; (exit $rc); cleanup' EXIT

# a copy of the tree as git has it: the build must not need (or touch) build/
mkdir -p "$TMP/src"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) |
	tar -xf - -C "$TMP/src" || fail "copying the tree"
GIT_DESCRIBE=$(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null || echo unknown)
export GIT_DESCRIBE
(cd "$TMP/src" && dpkg-buildpackage -b -us -uc -j2) >"$TMP/build.log" 2>&1 ||
	fail "dpkg-buildpackage: $(tail -n 15 "$TMP/build.log")"
# built there, from the copy, not taken from this tree's build directory
grep -q "LD .*build/thaw" "$TMP/build.log" || fail "the package build linked no thaw of its own"
v=$(sed -n 's/^VERSION := //p' "$ROOT/Makefile")
deb=$TMP/thaw_${v}_amd64.deb
[ -f "$deb" ] || fail "no $deb: $(ls "$TMP")"
[ "$(dpkg-deb -f "$deb" Version)" = "$v" ] ||
	fail "the package is version $(dpkg-deb -f "$deb" Version), the Makefile's $v"

dpkg-deb -c "$deb" | awk '{ print $6 }' >"$TMP/contents"
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for f in ./usr/bin/thaw ./usr/include/thaw.h ./usr/lib/$ma/libthaw.a ./usr/lib/$ma/libthaw.so.0 \
	./usr/lib/$ma/libthaw.so ./usr/lib/$ma/pkgconfig/thaw.pc \
	./usr/lib/python3/dist-packages/thaw/__init__.py ./usr/share/man/man1/thaw.1.gz \
	./usr/share/man/man1/thaw-dump.1.gz ./usr/share/bash-completion/completions/thaw \
	./usr/share/thaw/python/thaw; do
	grep -qxF "$f" "$TMP/contents" || fail "the package lacks $f: $(cat "$TMP/contents")"
done
! grep -v '^\./$' "$TMP/contents" | grep -qv '^\./usr/' ||
	fail "the package installs outside /usr: $(grep -v '^\./usr/' "$TMP/contents")"

dpkg -i "$deb" >"$TMP/dpkg-i.log" 2>&1 || fail "dpkg -i: $(tail -n 10 "$TMP/dpkg-i.log")"
INSTALLED=1
/usr/bin/thaw --version | grep -q "^thaw $v " || fail "/usr/bin/thaw --version: $(/usr/bin/thaw --version)"
/usr/bin/thaw check >"$TMP/check.log" 2>&1 || fail "thaw check: $(grep -v ' ok' "$TMP/check.log" | head -n 5)"
man -w thaw-restore >/dev/null 2>&1 || fail "man does not find thaw-restore"
got=$(cd / && env -u PYTHONPATH /usr/bin/python3 -c 'import thaw; print(thaw.__file__)') ||
	fail "python3 cannot import the packaged SDK"
[ "$got" = /usr/lib/python3/dist-packages/thaw/__init__.py ] || fail "import thaw found $got"
[ "$(pkg-config --modversion thaw)" = "$v" ] || fail "pkg-config does not find thaw $v"
printf '#include <thaw.h>\nint main(void) { return thaw_snapshot(); }\n' >"$TMP/prog.c"
cc -o "$TMP/prog" "$TMP/prog.c" $(pkg-config --cflags --libs thaw) || fail "cc with thaw.pc"
"$TMP/prog" || fail "a program linked with the packaged libthaw returned $?"
# the packaged (hardened) thaw snapshots it, then restores it: thaw_snapshot() is its status
for want in 1 2; do
	/usr/bin/thaw -q run --store "$TMP/store" -- "$TMP/prog" 2>"$TMP/run.err"
	rc=$?
	[ $rc = $want ] || fail "packaged thaw run: status $rc, want $want: $(cat "$TMP/run.err")"
done

dpkg -r thaw >"$TMP/dpkg-r.log" 2>&1 || fail "dpkg -r: $(tail -n 10 "$TMP/dpkg-r.log")"
INSTALLED=
for f in /usr/bin/thaw /usr/lib/$ma/libthaw.so.0 /usr/lib/python3/dist-packages/thaw; do
	[ ! -e "$f" ] || fail "dpkg -r left $f"
done
pass
