#!/bin/bash
# probe2.sh PROG... - what a CUDA process holds before and after a CUDA
# checkpoint: its socket, its restore thread, its nvidia mappings.
. "$(dirname "$0")/../lib.sh"
start p "$@"
wait_ready p 120
show() {
	echo "== $1"
	for f in /proc/$PID/fd/*; do
		l=$(readlink "$f")
		case $l in socket:*) echo "fd ${f##*/} $l"; cat /proc/$PID/fdinfo/${f##*/};
			ino=${l#socket:[}; ino=${ino%]}; grep " $ino" /proc/$PID/net/unix;; esac
	done
	for t in /proc/$PID/task/*; do echo "task ${t##*/} $(cat $t/comm) wchan=$(cat $t/wchan) syscall=$(cat $t/syscall | cut -d' ' -f1-3)"; done
	grep nvidia /proc/$PID/maps | head -8
	grep -B1 -A22 nvidia /proc/$PID/smaps | grep -E 'nvidia|VmFlags' | head -6
}
show before
python3 "$(dirname "$0")/cudackpt.py" lock,checkpoint "$PID"
show after
ss -xlp 2>/dev/null | head; ss -xp 2>/dev/null | grep -i "pid=$PID" | head
dump_ok "$PID" "$TMP/snap"
pass
