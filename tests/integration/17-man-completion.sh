#!/bin/bash
# 17-man-completion.sh - the manual pages made from the help texts
# (scripts/man.sh): one per command and thaw(1), clean to groff, every option
# of a command's help on its page and its ENVIRONMENT in thaw(1); and bash
# completion (src/cli/thaw.bash-completion), which reads the same help texts.
. "$(dirname "$0")/../lib.sh"
need_thaw
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v groff >/dev/null || skip "no groff"

"$ROOT/scripts/man.sh" "$THAW" "$TMP/man" || fail "scripts/man.sh failed"
cmds=$("$THAW" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
[ -n "$cmds" ] || fail "thaw --help lists no commands"
text() { MANWIDTH=200 man -l "$1" 2>/dev/null | col -bx; }
for page in thaw $(printf 'thaw-%s ' $cmds); do
	f=$TMP/man/$page.1
	[ -s "$f" ] || fail "no page $page.1"
	groff -man -ww -z "$f" 2>"$TMP/groff.err" || fail "groff $page.1 failed"
	[ ! -s "$TMP/groff.err" ] || fail "groff warns on $page.1: $(head -n 3 "$TMP/groff.err")"
	text "$f" >"$TMP/$page.txt"
	for s in NAME SYNOPSIS "EXIT STATUS" "SEE ALSO"; do
		grep -q "^$s" "$TMP/$page.txt" || fail "$page.1 has no $s section"
	done
	if [ "$page" = thaw ]; then help=$("$THAW" --help); else help=$("$THAW" "${page#thaw-}" --help); fi
	# every option and every line's words of the help text are on the page
	for o in $(grep -o -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u); do
		grep -qF -- "$o" "$TMP/$page.txt" || fail "$page.1 lacks $o"
	done
	want=$(tr -s ' \n' '\n\n' <<<"$help" | grep -v '^usage:$' | sort -u | grep -c .)
	have=$(tr -s ' \n' '\n\n' <"$TMP/$page.txt" | sort -u | grep -c .)
	[ "$have" -ge "$want" ] || fail "$page.1 has fewer words ($have) than its help ($want)"
done
# every option a command accepts (its getopt table, or the strcmp of a hand-made
# parser) is a line of its help's Options: section (and so of its page's
# OPTIONS), and every option listed there is accepted
for page in thaw $(printf 'thaw-%s ' $cmds); do
	if [ "$page" = thaw ]; then
		src=$ROOT/src/cli/main.c help=$("$THAW" --help)
	else
		src=$ROOT/src/cli/cmd-${page#thaw-}.c help=$("$THAW" "${page#thaw-}" --help)
	fi
	[ -f "$src" ] || fail "no $src for $page"
	accepted=$({
		grep -oE '\{ "[a-z0-9-]+", *(no|required|optional)_argument' "$src" |
			sed -E 's/^\{ "([^"]+)".*/--\1/'
		grep -oE 'strcmp\(argv\[[a-z0-9]+\], "--[a-z0-9-]+"\)' "$src" | grep -oE -- '--[a-z0-9-]+'
	} | sort -u)
	listed=$(awk '/^Options:$/ { on = 1; next } on && /^[^ ]/ { exit } on' <<<"$help" |
		grep -oE '^ +(-[a-z]+, )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+$' | sort -u)
	[ -n "$accepted" ] || fail "$src: no options found (its parser changed?)"
	missing=$(comm -23 <(echo "$accepted") <(echo "$listed") | tr '\n' ' ')
	[ -z "$missing" ] || fail "$page --help has no Options: line for $missing"
	extra=$(comm -13 <(echo "$accepted") <(echo "$listed") | tr '\n' ' ')
	[ -z "$extra" ] || fail "$page --help lists $extra, which $src does not accept"
	grep -q '^OPTIONS' "$TMP/$page.txt" || fail "$page.1 has no OPTIONS section"
done
ls "$TMP/man" | grep -c '\.1$' | grep -qx "$(($(wc -w <<<"$cmds") + 1))" ||
	fail "pages: $(ls "$TMP/man"), commands: $cmds"
grep -q '^ENVIRONMENT' "$TMP/thaw.txt" && grep -qE 'THAW_STORE\s' "$TMP/thaw.txt" ||
	fail "thaw(1) does not document THAW_STORE under ENVIRONMENT"
grep -q 'thaw-dump(1)' "$TMP/thaw.txt" || fail "thaw(1) does not refer to thaw-dump(1)"
# every variable thaw reads is in thaw(1) ENVIRONMENT, but those only thaw's own
# tests and its SDKs' protocol set
for v in $(grep -rhoE 'getenv\("[A-Z_0-9]+"\)' "$ROOT/src" | sed 's/getenv("\(.*\)")/\1/' | sort -u); do
	case $v in
	THAW_FAULT | THAW_S3_MAX_KEYS | THAW_S3_REFRESH_AGE | THAW_CONTROL_FD | HOME | PATH | TERM | PYTHONPATH) continue ;;
	esac
	grep -qw "$v" "$TMP/thaw.txt" || fail "thaw(1) ENVIRONMENT does not name $v, which src/ reads"
done

# completion: ask it as bash would, with thaw on PATH
complete_words() {
	PATH=$BUILD:$PATH bash -c '. "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _thaw
		printf "%s\n" "${COMPREPLY[@]}"' "$ROOT/src/cli/thaw.bash-completion" "$@"
}
[ "$(complete_words thaw st)" = store ] || fail "thaw st<TAB>: $(complete_words thaw st)"
complete_words thaw "" | grep -qx dump || fail "thaw <TAB> lacks dump"
complete_words thaw -q du | grep -qx dump || fail "thaw -q du<TAB> lacks dump"
complete_words thaw dump --le | grep -qx -- --leave-running || fail "thaw dump --le<TAB>"
complete_words thaw store "" | grep -qx verify || fail "thaw store <TAB> lacks verify"
complete_words thaw store --store x "" | grep -qx gc || fail "thaw store --store x <TAB> lacks gc"
complete_words thaw dump --pid $$ | grep -qx $$ || fail "thaw dump --pid <TAB> lacks $$"
complete_words thaw --vers | grep -qx -- --version || fail "thaw --vers<TAB>"
pass
