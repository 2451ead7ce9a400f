#!/bin/bash
# roundtrip.sh NAME [--leave-running] CMD... - a CUDA program: READY, thaw dump
# (CUDA checkpoint inside), killed, thaw restore --detach (CUDA restore
# inside), SIGUSR1, PASS.  With --leave-running the original goes on on its
# GPU and must pass too.  With ROUNDTRIP_STORE=1 the snapshot goes into a
# directory store and the restore comes from there (its pages, the device
# state among them, streamed from the chunks into the process).  With
# ROUNDTRIP_WEIGHTS=1 the program keeps its weights in libthaw's GPU weights
# region: the dump must have saved them, the snapshot name their thread and
# the restore (and, with --leave-running, the original) have them back.
# Prints one "TIMES" line for run.sh and bench.
. "$(dirname "$0")/../lib.sh"
need_thaw
name=$1
shift
leave=
if [ "${1:-}" = --leave-running ]; then
	leave=--leave-running
	shift
fi
ms() { date +%s%N | awk '{ printf "%d", $1 / 1000000 }'; }
t0=$(ms)
start "$name" "$@"
wait_ready "$name" 300
t1=$(ms)
orig=$PID
dump_ok "$PID" "$TMP/snap" $leave
t2=$(ms)
cat "$TMP/dump.log"
check_snapshot "$TMP/snap"
"$THAW" inspect "$TMP/snap" >"$TMP/inspect.log" 2>&1 || fail "thaw inspect failed"
grep -A4 '^gpu' "$TMP/inspect.log"
grep -q '^gpu' "$TMP/inspect.log" || fail "thaw inspect shows no GPU part"
# driver 580 names its restore thread: restore lets it run alone (DESIGN.md, Restore step 6)
grep -q '"restore_tid":[1-9]' "$TMP/snap/manifest.json" ||
	fail "the snapshot does not name the driver's restore thread"
if [ "${ROUNDTRIP_WEIGHTS:-}" = 1 ]; then
	grep -q 'GPU weights saved to host memory' "$TMP/dump.log" || fail "the dump saved no GPU weights"
	grep -q '"weights_tid":[1-9]' "$TMP/snap/manifest.json" ||
		fail "the snapshot does not name the GPU weights thread"
	[ -z "$leave" ] || grep -q 'GPU weights back on the GPU' "$TMP/dump.log" ||
		fail "the original did not get its GPU weights back after the dump"
fi
if [ -n "$leave" ]; then
	sleep 0.2
	finish "$name" "$orig"
fi
if [ "${ROUNDTRIP_STORE:-}" = 1 ]; then
	"$THAW" store --store "$TMP/store" put "$TMP/snap" --name gpu >"$TMP/put.log" 2>&1 ||
		fail "thaw store put: $(tail -n 3 "$TMP/put.log")"
	t3=$(ms)
	restore_detached_from "$name-restored" --store "$TMP/store" --name gpu
else
	t3=$(ms)
	restore_detached "$name-restored" "$TMP/snap"
fi
t4=$(ms)
cat "$TMP/$name-restored.err"
grep -q "only the driver's restore thread running" "$TMP/$name-restored.err" ||
	fail "the CUDA restore ran with the program's threads released"
if [ "${ROUNDTRIP_WEIGHTS:-}" = 1 ]; then
	grep -q 'GPU weights back on the GPU' "$TMP/$name-restored.err" ||
		fail "the restore did not load the GPU weights"
fi
sleep 0.2
t5=$(ms)
finish "$name-restored" "$PID"
t6=$(ms)
cat "$TMP/$name-restored.out"
echo "TIMES $name ready_ms $((t1 - t0)) dump_ms $((t2 - t1)) restore_ms $((t4 - t3)) answer_ms $((t6 - t5)) snap_bytes $(du -sb "$TMP/snap" | cut -f1)"
grep '^COLD' "$TMP/$name.out"
pass
