#!/bin/bash
# probe-exp.sh NAME CMD... - CUDA checkpoint (cudackpt.py) + thaw CPU dump,
# restore in a fresh PID namespace, CUDA restore, check.
. "$(dirname "$0")/../lib.sh"
name=$1
shift
ts() { date +%s.%N; }
sub() { awk "BEGIN { printf \"%.3f\", $1 - $2 }"; }
start "$name" "$@"
wait_ready "$name" 120
cat "$TMP/$name.out"
ls -l /proc/$PID/fd | sed 's/.*[0-9] //' | sort | uniq -c | sort -rn | head -20
grep -c . /proc/$PID/maps; ls /proc/$PID/task | wc -l
cat /proc/$PID/task/*/comm | sort | uniq -c
a=$(ts)
python3 "$(dirname "$0")/cudackpt.py" tid,state,lock,checkpoint,state "$PID" || fail "checkpoint"
b=$(ts)
echo "after checkpoint: nvidia fds $(ls -l /proc/$PID/fd | grep -c nvidia), nvidia maps $(grep -c nvidia /proc/$PID/maps)"
grep -E 'VmRSS|RssAnon|RssFile|RssShmem' /proc/$PID/status
ls -l /proc/$PID/fd | sed 's/.*[0-9] //' | sort | uniq -c | sort -rn | head -20
dump_ok "$PID" "$TMP/snap"
c=$(ts)
tail -n 3 "$TMP/dump.log"
du -sh "$TMP/snap"
restore_detached r "$TMP/snap"
d=$(ts)
tail -n 5 "$TMP/r.err"
python3 "$(dirname "$0")/cudackpt.py" state,restore,state,unlock "$PID" || fail "cuda restore"
e=$(ts)
sleep 0.2
finish r "$PID"
cat "$TMP/r.out"
echo "TIMES $name checkpoint $(sub $b $a) dump $(sub $c $b) restore $(sub $d $c) cuda_restore $(sub $e $d)"
pass
