#!/bin/bash
# 18-install.sh - make install into a DESTDIR gives a tree that works: thaw
# runs from it (--version, check, a snapshot and a restore of a program built
# against the installed libthaw through pkg-config), Python imports the
# installed SDK (and thaw run hands it to a Python program), man finds the
# pages; pip installs sdk/python offline; make uninstall leaves no file.
. "$(dirname "$0")/../lib.sh"
need_thaw
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
command -v pkg-config >/dev/null || skip "no pkg-config"
[ -x $PY ] || skip "no $PY"
D=$TMP/dest
P=/usr/local
san=0
[[ $BUILD == */san ]] && san=1

make -s -C "$ROOT" BUILD="$BUILD" SANITIZE=$san install DESTDIR="$D" PREFIX=$P \
	>"$TMP/install.log" 2>&1 || fail "make install: $(tail -n 5 "$TMP/install.log")"
pydir=$P/lib/$($PY -c 'import sys; print("python%d.%d" % sys.version_info[:2])')/dist-packages
for f in bin/thaw lib/libthaw.a lib/libthaw.so.0 lib/libthaw.so lib/pkgconfig/thaw.pc \
	include/thaw.h share/man/man1/thaw.1 share/man/man1/thaw-dump.1 \
	share/bash-completion/completions/thaw; do
	[ -e "$D$P/$f" ] || fail "make install left out $P/$f"
done
[ -f "$D$pydir/thaw/__init__.py" ] || fail "no SDK in $pydir: $(cd "$D" && find . | head -n 40)"
[ "$(readlink "$D$P/lib/libthaw.so")" = libthaw.so.0 ] || fail "libthaw.so is not a link to libthaw.so.0"
[ -x "$D$P/bin/thaw" ] || fail "the installed thaw is not executable"

# the installed binary
T=$D$P/bin/thaw
"$T" --version >"$TMP/version" || fail "installed thaw --version failed"
v=$(sed -n '1s/^thaw \([^ ]*\).*/\1/p' "$TMP/version")
grep -q "^version = \"$v\"$" "$ROOT/sdk/python/pyproject.toml" ||
	fail "thaw --version says $v, sdk/python/pyproject.toml $(grep ^version "$ROOT/sdk/python/pyproject.toml")"
"$T" check >"$TMP/check" 2>&1 || fail "installed thaw check: $(grep -v ' ok' "$TMP/check" | head -n 5)"
MANPATH=$D$P/share/man man -w thaw-dump >/dev/null 2>&1 || fail "man does not find thaw-dump in the tree"

# a program built against the installed libthaw, through pkg-config
export PKG_CONFIG_PATH=$D$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
flags=$(pkg-config --cflags --libs thaw) || fail "pkg-config does not find thaw"
[ "$(pkg-config --modversion thaw)" = "$v" ] || fail "thaw.pc version $(pkg-config --modversion thaw)"
cat >"$TMP/prog.c" <<'CEOF'
#include <stdio.h>
#include <thaw.h>

int main(void)
{
	static const char *const names[] = { "disabled", "snapshotted", "restored", "failed" };
	int r = thaw_snapshot();

	printf("%s\n", r >= 0 && r <= 3 ? names[r] : "?");
	return 0;
}
CEOF
cc -o "$TMP/prog" "$TMP/prog.c" $flags || fail "cc against thaw.pc: $flags"
readelf -d "$TMP/prog" | grep -q 'NEEDED.*libthaw.so.0' || fail "prog does not need libthaw.so.0"
export LD_LIBRARY_PATH=$D$P/lib
[ "$("$TMP/prog")" = disabled ] || fail "prog outside thaw: $("$TMP/prog")"
for want in snapshotted restored; do
	out=$("$T" -q run --store "$TMP/store" -- "$TMP/prog" 2>"$TMP/run.err") ||
		fail "installed thaw run: $(cat "$TMP/run.err")"
	[ "$out" = $want ] || fail "installed thaw run: prog said '$out', want $want: $(cat "$TMP/run.err")"
done
unset LD_LIBRARY_PATH PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# the installed SDK: importable where it was put, and what thaw run gives Python
got=$(PYTHONPATH=$D$pydir $PY -c 'import thaw; assert thaw.snapshot() == "disabled"; print(thaw.__file__)') ||
	fail "the installed SDK does not import"
[ "$got" = "$D$pydir/thaw/__init__.py" ] || fail "import thaw found $got"
got=$(env -u THAW_PYTHON_SDK "$T" -q run --no-snapshot -- $PY -c 'import os, thaw; print(os.path.realpath(thaw.__file__))') ||
	fail "thaw run of python with the installed SDK"
[ "$got" = "$D$pydir/thaw/__init__.py" ] || fail "under the installed thaw run, import thaw found $got"

# pip, offline: the in-tree build backend needs nothing from an index
if $PY -m pip --version >/dev/null 2>&1; then
	$PY -m pip install -q --no-index --no-deps --target "$TMP/pip" "$ROOT/sdk/python" \
		>"$TMP/pip.log" 2>&1 || fail "pip install sdk/python: $(tail -n 5 "$TMP/pip.log")"
	PYTHONPATH=$TMP/pip $PY -c 'import thaw, thaw.gpu; assert thaw.snapshot() == "disabled"' ||
		fail "the SDK pip installed does not import"
	left=$(git -C "$ROOT" status --porcelain --ignored sdk/python | grep '^!!')
	[ -z "$left" ] || fail "pip left files in sdk/python: $left"
else
	log "no pip for $PY: pip install not tried"
fi

# the package (debian/, built by 19-deb.sh in CI) names every library the build needs:
# each -dev package scripts/deps.sh installs, but those only the tests use
for p in $(sed -n 's/^PKGS="\(\$PKGS \)\{0,1\}//p; s/^\t//p' "$ROOT/scripts/deps.sh" | tr -d '"' |
	tr ' ' '\n' | grep -- '-dev$' | grep -vx 'libcmocka-dev\|libclang-rt-14-dev'); do
	awk '/^Build-Depends:/ { on = 1; print; next } on && /^[^ ]/ { exit } on' \
		"$ROOT/debian/control" | grep -qw -- "$p" ||
		fail "debian/control Build-Depends lacks $p (scripts/deps.sh installs it)"
done

make -s -C "$ROOT" BUILD="$BUILD" SANITIZE=$san uninstall DESTDIR="$D" PREFIX=$P \
	>"$TMP/uninstall.log" 2>&1 || fail "make uninstall: $(tail -n 5 "$TMP/uninstall.log")"
left=$(find "$D" -not -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
pass
