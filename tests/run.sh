#!/bin/bash
# run.sh - runs the whole test suite: unit tests, fuzz self-tests, integration
# scripts and compatibility tests (tests/compat/), in that order, each under a
# time limit with its output in $BUILD/test-logs/NAME.log.
#
#   BUILD=build tests/run.sh [FILTER]
#
# FILTER (a substring or bash glob) keeps only the tests whose name matches,
# e.g. "unit/", "fuzz-manifest", "integration/2*".  A test passes with exit 0,
# is skipped with exit 77 and fails otherwise; a unit or fuzz source whose
# binary was not built is a failure, not a skip.  The last line is always
# "N passed, N failed" (", N skipped" when any) and the exit status is 1 when
# anything failed.
#
# Every restore the suite makes is verified (THAW_VERIFY=1: thaw restore and
# thaw run read the restored program back before it runs and compare it with
# its snapshot; README.md, "Restore"), so that any test that restores also
# checks that nothing came back different.  THAW_VERIFY=0 in the caller's
# environment runs the suite without it.
set -u

cd "$(dirname "$0")/.." || exit 1

# Tests must not inherit our caller's descriptors (a CI runner's pipes would
# end up inside the programs that get snapshotted).
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	# (no redirection on this loop: bash would park fd 2 in a descriptor we close)
	[[ $fd =~ ^[0-9]+$ ]] && [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ] &&
		[ -e "/proc/$$/fd/$fd" ] && eval "exec $fd>&-"
done
export BUILD=${BUILD:-build}
export THAW_VERIFY=${THAW_VERIFY:-1}
FILTER=${1:-}
LOGS=$BUILD/test-logs
mkdir -p "$LOGS" || exit 1

# Sanitized builds: leaks and UB are failures, and an ASan report aborts so
# the test's exit status shows it.  The user's own settings win.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-print_suppressions=0}

UNIT_LIMIT=${UNIT_LIMIT:-120}
FUZZ_LIMIT=${FUZZ_LIMIT:-300}
INTEGRATION_LIMIT=${INTEGRATION_LIMIT:-300}

passed=0
failed=0
skipped=0
failures=()

matches() {
	[ -z "$FILTER" ] && return 0
	[[ $1 == *$FILTER* ]]
}

now_ms() {
	local s
	s=$(date +%s%N)
	echo $((s / 1000000))
}

# run_one NAME LIMIT CMD [ARGS...]
run_one() {
	local name=$1 limit=$2 log t0 t1 rc secs
	shift 2
	matches "$name" || return 0
	log=$LOGS/${name//\//-}.log
	t0=$(now_ms)
	if [ ! -x "$1" ]; then
		echo "not built: $1" >"$log"
		rc=127
	else
		timeout -k 10 "$limit" "$@" >"$log" 2>&1 </dev/null
		rc=$?
	fi
	t1=$(now_ms)
	secs=$(printf '%d.%02d' $(((t1 - t0) / 1000)) $((((t1 - t0) % 1000) / 10)))
	case $rc in
	0)
		passed=$((passed + 1))
		printf 'PASS  %-44s %7s s\n' "$name" "$secs"
		;;
	77)
		skipped=$((skipped + 1))
		printf 'SKIP  %-44s %7s s  %s\n' "$name" "$secs" "$(grep -m1 '^SKIP' "$log" | cut -c7-)"
		;;
	*)
		failed=$((failed + 1))
		failures+=("$name")
		local why="exit $rc"
		[ $rc = 124 ] || [ $rc = 137 ] && why="timed out after $limit s"
		[ $rc = 127 ] && [ ! -x "$1" ] && why="not built"
		[ $rc -gt 128 ] && [ $rc != 137 ] && why="killed by signal $((rc - 128))"
		printf 'FAIL  %-44s %7s s  (%s, log %s)\n' "$name" "$secs" "$why" "$log"
		tail -n 25 "$log" | sed 's/^/    | /'
		;;
	esac
}

for src in tests/unit/test-*.c; do
	[ -e "$src" ] || continue
	base=$(basename "$src" .c)
	run_one "unit/$base" "$UNIT_LIMIT" "$BUILD/tests/unit/$base"
done

for src in tests/fuzz/fuzz-*.c; do
	[ -e "$src" ] || continue
	base=$(basename "$src" .c)
	run_one "fuzz/$base" "$FUZZ_LIMIT" "$BUILD/tests/fuzz/$base"
done

for script in tests/integration/*.sh; do
	[ -e "$script" ] || continue
	base=$(basename "$script" .sh)
	run_one "integration/$base" "$INTEGRATION_LIMIT" /bin/bash "$script"
done

for script in tests/fault/*.sh; do
	[ -e "$script" ] || continue
	base=$(basename "$script" .sh)
	[ "$base" = lib ] && continue
	run_one "fault/$base" "$INTEGRATION_LIMIT" /bin/bash "$script"
done

for src in tests/compat/*.c; do
	[ -e "$src" ] || continue
	base=$(basename "$src" .c)
	run_one "compat/$base" "$INTEGRATION_LIMIT" /bin/bash tests/compat/run.sh "$base"
done

if [ $failed -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
summary="$passed passed, $failed failed"
[ $skipped -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ $failed -eq 0 ]
