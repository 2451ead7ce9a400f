#!/bin/bash
# run-thaw-run.sh - `thaw run` on the torch GPU worker (tests/gpu/run_worker.py),
# on the device machine: one plain start (no thaw: the SDK is a no-op), one
# cold `thaw run` start (snapshot taken), then RESTORES restored starts (3).
# Each is timed from the command's start to the worker's first stdout line
# (its checksum after the snapshot point); every first line must be the same
# and every non-plain start must have taken the path it should.  Prints a
# table and the ratios; the logs go to $OUT (default build/gpu-out).  PLAIN=0
# leaves the plain start out; THAW_VERIFY_DIGEST=1 times content digests too.
#   THAW=build/gpu-carry/thaw tests/gpu/run-thaw-run.sh [GIB]
set -u
cd "$(dirname "$0")/../.."
THAW=${THAW:-build/gpu-carry/thaw}
OUT=${OUT:-build/gpu-out}
RESTORES=${RESTORES:-3}
gib=${1:-2}
store=$(mktemp -d /tmp/thaw-run-gpu.XXXXXX)
mkdir -p "$OUT"
export TORCHINDUCTOR_COMPILE_THREADS=1
worker=${WORKER:-$PWD/tests/gpu/run_worker.py}
ms() { echo $(($(date +%s%N) / 1000000)); }
failed=0
die() { echo "FAIL: $*"; failed=1; }

# start NAME CMD...: runs it to its end; T=ms to the first stdout line, FIRST=that line
start() {
	local name=$1 t0 rc
	shift
	t0=$(ms)
	timeout 300 "$@" 2>"$OUT/$name.err" | {
		IFS= read -r first
		echo "$(($(ms) - t0)) $first" >"$OUT/$name.first"
		cat >"$OUT/$name.out"
	}
	rc=${PIPESTATUS[0]}
	read -r T FIRST <"$OUT/$name.first"
	printf '%-10s rc %d  first line after %6d ms: %s\n' "$name" "$rc" "$T" "$FIRST"
	[ "$rc" = 0 ] || { die "$name exited with $rc"; tail -n 20 "$OUT/$name.err"; }
	grep '^thaw:\|^thaw run: info\|^# thaw' "$OUT/$name.err"
}

[ -x "$THAW" ] || { echo "no $THAW (tests/gpu/mkcarry.sh makes it)"; exit 1; }
[ -e /dev/nvidia0 ] || [ -n "${WORKER:-}" ] || { echo "no GPU here"; exit 0; }
plain_ms=0 plain_first=
sdkpath=$PWD/sdk/python${PYTHONPATH:+:$PYTHONPATH}
[ "${PLAIN:-1}" = 0 ] || start plain env PYTHONPATH="$sdkpath" python3 "$worker" "$gib"
[ "${PLAIN:-1}" = 0 ] || { plain_ms=$T plain_first=$FIRST; }
start cold "$THAW" run --store "$store" -- python3 "$worker" "$gib"
cold_ms=$T cold_first=$FIRST
grep -q 'snapshot created' "$OUT/cold.err" || die "the cold start took no snapshot"
for i in $(seq "$RESTORES"); do
	start "restored$i" "$THAW" run --store "$store" -- python3 "$worker" "$gib"
	grep -q 'restored .* from snapshot' "$OUT/restored$i.err" || die "start $i was not restored"
	[ "$FIRST" = "$cold_first" ] || die "restored$i's first line differs from the cold start's"
	eval "r$i=$T"
done
[ "${PLAIN:-1}" = 0 ] || [ "$plain_first" = "$cold_first" ] ||
	die "the plain start's first line differs from thaw run's"
"$THAW" snapshots --store "$store"
du -sh "$store"
rs=$(for i in $(seq "$RESTORES"); do eval "echo \$r$i"; done | sort -n)
med=$(echo "$rs" | sed -n "$(((RESTORES + 1) / 2))p")
echo "RESULT plain_ms $plain_ms cold_ms $cold_ms restored_ms $(echo $rs | tr ' ' ,) median_ms $med"
awk -v p="$plain_ms" -v c="$cold_ms" -v m="$med" 'BEGIN {
	printf "speed-up: plain start / restored %.1fx, ", p / m
	printf "thaw run cold (snapshot included) / restored %.1fx\n", c / m }'
rm -rf "$store"
[ "$failed" = 0 ] && echo PASS || echo FAIL
[ "$failed" = 0 ]
