#!/bin/bash
# soak.sh - `make soak`: one snapshot of tests/programs/basic (4 threads, 8 MiB),
# restored SOAK_RESTORES times in a row (default 1000); each copy is checked
# alive and killed by PID.  After every restore it samples what is left -
# open files in the system (/proc/sys/fs/file-nr), mounts, processes that
# are thaw or a restored copy, thaw's /dev/shm entries, available memory -
# and the restore's time.  It prints the averages of the first 100 restores
# against the last 100 and fails if mounts, thaw's processes or /dev/shm
# entries grew at all, system fds by more than 256 (other work on the
# machine opens and closes files too) or available memory fell by more than
# 256 MiB.  Time is reported, not judged.
. "$(dirname "$0")/lib.sh"
N=${SOAK_RESTORES:-1000}
[ "$N" -ge 200 ] || fail "SOAK_RESTORES must be at least 200 (first 100 against last 100)"
need_thaw
need_prog basic
start basic "$PROGS/basic"
wait_ready basic
snap=$TMP/soak.snap
dump_ok "$PID" "$snap"

sample() { # fds mounts procs shm mem_kib
	local fds mnts procs shm mem
	read -r fds _ </proc/sys/fs/file-nr
	mnts=$(wc -l </proc/self/mountinfo)
	procs=$(($(thaw_procs | wc -l) + $(pgrep -cx basic)))
	shm=$(find /dev/shm -maxdepth 1 -mindepth 1 -name 'thaw-*' | wc -l)
	mem=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
	echo "$fds $mnts $procs $shm $mem"
}

out=$TMP/soak.samples
: >"$out"
for ((i = 1; i <= N; i++)); do
	t0=$(date +%s%N)
	rm -f "$TMP/soak.pid"
	timeout -k 5 60 "$THAW" restore --dir "$snap" --detach --pidfile "$TMP/soak.pid" \
		</dev/null >/dev/null 2>"$TMP/soak.err" || fail "restore $i failed: $(tail -n 3 "$TMP/soak.err")"
	t1=$(date +%s%N)
	pid=$(cat "$TMP/soak.pid")
	track_restored "$pid"
	alive "$pid" || fail "restore $i: pid $pid is not running"
	ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
	kill -KILL "$pid" "$ppid" 2>/dev/null
	wait_gone "$pid" 10 || fail "restore $i: pid $pid did not die"
	wait_gone "$ppid" 10 || fail "restore $i: its init $ppid did not die"
	PIDS=() # this one is gone; do not let the list grow by 2000
	echo "$(((t1 - t0) / 1000)) $(sample)" >>"$out"
	[ $((i % 100)) = 0 ] && log "$i restores"
done

awk -v n="$N" '
	NR <= 100 { for (k = 1; k <= 6; k++) first[k] += $k }
	NR > n - 100 { for (k = 1; k <= 6; k++) last[k] += $k }
	END {
		split("restore_us system_fds mounts thaw_processes thaw_dev_shm mem_available_kib", name, " ")
		printf "%-20s %14s %14s\n", "", "first 100", "last 100"
		for (k = 1; k <= 6; k++)
			printf "%-20s %14.1f %14.1f\n", name[k], first[k] / 100, last[k] / 100
		bad = ""
		if (last[2] / 100 > first[2] / 100 + 256) bad = bad " fds"
		if (last[3] > first[3]) bad = bad " mounts"
		if (last[4] > first[4]) bad = bad " processes"
		if (last[5] > first[5]) bad = bad " /dev/shm"
		if ((first[6] - last[6]) / 100 > 262144) bad = bad " memory"
		if (bad != "") { print "grew:" bad; exit 1 }
	}' "$out" || fail "something grows across restores"
pass
