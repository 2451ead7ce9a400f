# fault/lib.sh - what every tests/fault/*.sh sources (it sources tests/lib.sh).
#
# Each script kills one thaw command with SIGKILL, again and again: at
# random moments (seeded: FAULT_SEED, default 1; FAULT_TRIES tries, default
# per script) and at the named fault points (THAW_FAULT=NAME[:N], docs/faults.md)
# that a random kill rarely hits.  After every kill it waits for what thaw
# left running to finish its work (bounded), then checks the invariants of
# docs/faults.md: the program runs and still works, or its snapshot is
# published (and whole); nothing half written is visible; no process,
# namespace, mount, /dev/shm entry or fd of thaw's is left behind.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FAULT_SEED=${FAULT_SEED:-1}
RANDOM=$FAULT_SEED
SETTLE=${FAULT_SETTLE:-20} # seconds thaw may take to finish after its command is killed

need_thaw
need_prog basic

# new_program: a fresh tests/programs/basic as "prog"; sets PID and FDS.
new_program() {
	start prog "$PROGS/basic"
	wait_ready prog
	FDS=$(fd_list "$PID")
}

# Restores from a store rebuild their files here, not in the shared /dev/shm.
SHM=/dev/shm/thaw-fault.$$
mkdir -m 700 "$SHM" || fail "cannot make $SHM"
export THAW_RESTORE_TMPDIR=$SHM
_fault_cleanup() {
	rm -rf "$SHM"
}
trap '_rc=$?; _fault_cleanup; (exit $_rc); cleanup' EXIT

# rand_ms MAX: R is a seeded random number of milliseconds in [0, MAX]
# (not printed: RANDOM in a $(subshell) would not follow the seed).
R=
rand_ms() {
	R=$(((RANDOM * 32768 + RANDOM) % ($1 + 1)))
}

# one_in N: true once in N times (seeded; RANDOM's low bits repeat, its high ones do not).
one_in() {
	[ $(((RANDOM >> 7) % $1)) = 0 ]
}

ms() {
	printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# Processes of this build: thaw itself (the command, its worker, a
# restore's namespace init) and the test programs, restored or not.
own_procs() {
	local f
	for f in $(find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$BUILD/*" 2>/dev/null); do
		f=${f#/proc/}
		echo "${f%/exe}"
	done
}

# new_procs BEFORE [ALLOWED...]: own processes alive now that are in
# neither list (both space-separated pid lists).
new_procs() {
	local before=" $1 " allowed=" ${*:2} " p
	for p in $(own_procs); do
		[[ $before == *" $p "* ]] && continue
		[[ $allowed == *" $p "* ]] && continue
		alive "$p" && echo "$p"
	done
}

describe() {
	local p
	for p in "$@"; do
		echo "pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) ($(awk '/^State:/ { print $2 }' "/proc/$p/status" 2>/dev/null), parent $(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null))"
	done
}

# settle WHAT BEFORE [ALLOWED...]: waits (bounded) until no process of ours
# is left beyond BEFORE and ALLOWED; fails naming them.
settle() {
	local what=$1 left i
	shift
	for ((i = 0; i < SETTLE * 20; i++)); do
		left=$(new_procs "$@")
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	track $left
	fail "$what: processes left behind: $(describe $left | tr '\n' ';')"
}

# kill_after MS LOG CMD...: starts CMD (stdout+stderr into LOG), SIGKILLs it
# after MS milliseconds, reaps it; KILLED_RC is its exit status.
KILLED_RC=
kill_after() {
	local delay=$1 out=$2 pid
	shift 2
	"$@" >"$out" 2>&1 </dev/null &
	pid=$!
	[ "$delay" -gt 0 ] && sleep "$(ms "$delay")"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	KILLED_RC=$?
}

# untraced PID: no thread of PID is traced or stopped.
untraced() {
	local t st
	for t in /proc/"$1"/task/*; do
		st=$(awk '/^TracerPid:/ { print $2 }' "$t/status" 2>/dev/null)
		[ "${st:-0}" = 0 ] || return 1
		st=$(awk '/^State:/ { print $2 }' "$t/status" 2>/dev/null)
		[ "$st" = t ] || [ "$st" = T ] && return 1
	done
	return 0
}

# fd_list PID: "fd what" for every fd of PID, sorted.
fd_list() {
	local f
	for f in /proc/"$1"/fd/*; do
		echo "${f##*/} $(readlink "$f" 2>/dev/null)"
	done | sort -n
}

# fd_kinds PID: "fd kind" for every fd of PID: what kind of file (pipe,
# socket, anon_inode:NAME, a path's directory), not which one.
fd_kinds() {
	fd_list "$1" | sed -E 's/ (pipe|socket|anon_inode:[^[]*).*/ \1/; s| (/.*)/[^/]*$| \1/|'
}

# ping NAME PID: the program checks itself and answers "alive N" in $TMP/NAME.out.
ping() {
	local name=$1 pid=$2 before i
	before=$(grep -c '^alive' "$TMP/$name.out")
	kill -USR2 "$pid" 2>/dev/null || fail "$name: pid $pid is gone"
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		grep -q '^FAIL' "$TMP/$name.out" &&
			fail "$name: pid $pid: $(grep '^FAIL' "$TMP/$name.out" | head -n 5 | tr '\n' ';')"
		[ "$(grep -c '^alive' "$TMP/$name.out")" -gt "$before" ] && return 0
		alive "$pid" || fail "$name: pid $pid died: $(tail -n 3 "$TMP/$name.out" | tr '\n' ';')"
		sleep 0.02
	done
	fail "$name: pid $pid did not answer within $TIMEOUT s (state $(awk '/^State:/ { print $2 }' "/proc/$pid/status"))"
}

# unharmed NAME PID FDS: after a failed dump the program runs free, answers,
# and holds the fds it held before (FDS, from fd_list).
unharmed() {
	local name=$1 pid=$2 fds=$3
	alive "$pid" || fail "$name: pid $pid is gone ($(tail -n 2 "$TMP/$name.err" | tr '\n' ';'))"
	untraced "$pid" || fail "$name: pid $pid is still traced or stopped"
	ping "$name" "$pid"
	[ "$(fd_list "$pid")" = "$fds" ] ||
		fail "$name: pid $pid's fds changed: $(diff <(echo "$fds") <(fd_list "$pid") | tr '\n' ';')"
}

# no_mounts: nothing of thaw's is mounted in our mount namespace.
no_mounts() {
	grep -E "thaw-shm|$TMP" /proc/self/mountinfo && fail "$1: a mount of thaw's is left behind"
	return 0
}

# shm_empty WHAT: a restore left nothing in its /dev/shm directory.
shm_empty() {
	[ -z "$(ls -A "$SHM")" ] || fail "$1: left in $SHM: $(ls -A "$SHM" | tr '\n' ' ')"
}
