#!/bin/sh
# man.sh THAW OUTDIR - the manual pages thaw(1) and thaw-COMMAND(1), made from
# the help texts of the thaw binary THAW, so that the two cannot drift: the
# help text is the one source (src/cli/cli.c says how it is laid out).
#
# A help text becomes a page thus: its "usage:" lines are the SYNOPSIS; a line
# "Word(s):" alone is a section (".SH WORDS"); a paragraph that starts at the
# margin is prose, filled by man; one that is indented (option lists, tables)
# is kept as it is.  The NAME line is the command's line in 'thaw --help'.
set -eu
thaw=$1
out=$2
mkdir -p "$out"
version=$("$thaw" --version | sed -n '1s/^thaw \([^ ]*\).*/\1/p')
cmds=$("$thaw" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')

# page NAME SUMMARY SEEALSO: the help text on stdin, the page on stdout
page() {
	awk -v name="$1" -v summary="$2" -v seealso="$3" -v version="$version" '
	function esc(s) {
		gsub(/\\/, "\\e", s)
		gsub(/-/, "\\-", s)
		if (s ~ /^[.\047]/)
			s = "\\&" s
		return s
	}
	function flush() {
		if (!n)
			return
		if (desc) {
			print ".SH DESCRIPTION"
			desc = 0
		}
		if (pre) {
			print ".PP\n.RS 2\n.nf"
			for (i = 1; i <= n; i++)
				print esc(substr(lines[i], 3))
			print ".fi\n.RE"
		} else {
			print ".PP"
			for (i = 1; i <= n; i++)
				print esc(lines[i])
		}
		n = 0
	}
	BEGIN {
		up = toupper(name)
		print ".\\\" Made by scripts/man.sh from \"" name " --help\": edit the help text, not this."
		print ".TH " up " 1 \"\" \"thaw " version "\" \"thaw manual\""
		print ".SH NAME\n" esc(name) " \\- " esc(summary)
		print ".SH SYNOPSIS\n.nf"
		state = "usage"
	}
	state == "usage" && /^$/ { print ".fi"; desc = 1; state = "body"; next }
	state == "usage" {
		sub(/^usage: /, ""); sub(/^       /, "")
		print esc($0)
		next
	}
	/^[A-Za-z][A-Za-z ]*:$/ {
		flush()
		desc = 0
		sub(/:$/, "")
		print ".SH " toupper($0)
		next
	}
	/^$/ { flush(); next }
	{
		if (!n)
			pre = /^ /
		lines[++n] = $0
	}
	END {
		flush()
		if (state == "usage")
			print ".fi"
		print ".SH SEE ALSO\n" seealso
	}'
}

seealso=""
for c in $cmds; do
	summary=$("$thaw" --help | awk -v c="$c" '$1 == c { $1 = ""; sub(/^ +/, ""); print; exit }')
	"$thaw" "$c" --help | page "thaw-$c" "$summary" ".BR thaw (1)" >"$out/thaw-$c.1.tmp"
	mv "$out/thaw-$c.1.tmp" "$out/thaw-$c.1"
	seealso="$seealso${seealso:+,
}.BR thaw\\-$c (1)"
done
"$thaw" --help | page thaw "checkpoint and restore Linux processes" "$seealso" >"$out/thaw.1.tmp"
mv "$out/thaw.1.tmp" "$out/thaw.1"
