#!/bin/bash
# run.sh - `make fuzz`: runs every libFuzzer target in $FUZZ_BUILD for
# $FUZZ_SECONDS seconds from its seeds (tests/fuzz/corpus/NAME, read only: new
# inputs go to $FUZZ_BUILD/corpus-NAME), and fails on the first crash, leak
# or broken invariant (its input is kept as $FUZZ_BUILD/crash-NAME-*).
# FUZZ_ONLY=NAME[,NAME...] runs only those targets (fuzz-NAME), one after another.
set -u
cd "$(dirname "$0")/../.." || exit 1
FUZZ_BUILD=${FUZZ_BUILD:-build/libfuzzer}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_ONLY=${FUZZ_ONLY:-}
passed=0
failed=0
for bin in "$FUZZ_BUILD"/fuzz-*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz-}
	[ -z "$FUZZ_ONLY" ] || [[ ",$FUZZ_ONLY," == *",$name,"* ]] || continue
	work=$FUZZ_BUILD/corpus-$name
	mkdir -p "$work"
	seeds=()
	[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
	log=$FUZZ_BUILD/fuzz-$name.log
	# -rss_limit_mb: a reader must stay bounded; -timeout: and never hang
	if timeout -k 10 $((FUZZ_SECONDS + 120)) "$bin" -max_total_time="$FUZZ_SECONDS" \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$FUZZ_BUILD/crash-$name-" "$work" "${seeds[@]}" >"$log" 2>&1; then
		passed=$((passed + 1))
		printf 'PASS  fuzz/%-40s %s\n' "$name" \
			"$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${FUZZ_SECONDS} s"
	else
		failed=$((failed + 1))
		printf 'FAIL  fuzz/%-40s (log %s)\n' "$name" "$log"
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/    | /'
	fi
done
[ $((passed + failed)) -gt 0 ] || { echo "no fuzz targets in $FUZZ_BUILD"; exit 1; }
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
