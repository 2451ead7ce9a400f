# lib.sh - helpers every tests/integration/*.sh sources.
#
# A script runs real programs from $BUILD/tests/programs, snapshots them with
# $BUILD/thaw and restores them.  Everything it starts is recorded by PID and
# killed (SIGKILL) when the script exits, whatever the path out: the programs,
# the shells and cats that relay their output, thaw restore processes and the
# programs (and their namespace init) that a restore brought back.
#
# Output relay: a program's stdout is a pipe to a `cat` outside the program,
# so that thaw treats it as a foreign pipe and connects the restored program
# to thaw restore's own stdout; its stderr is an O_APPEND file, which a restore
# reopens by path.  Programs flush every line they print.
#
# Exit codes: 0 pass, 77 skip, anything else fail.

set -u

BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
	echo "FAIL: build directory ${BUILD} does not exist" >&2
	exit 1
}
THAW=$BUILD/thaw
PROGS=$BUILD/tests/programs
TEST_NAME=$(basename "$0" .sh)
TIMEOUT=${TEST_WAIT:-20} # seconds any single wait may take

mkdir -p "$BUILD/test-tmp"
TMP=$(mktemp -d "$BUILD/test-tmp/$TEST_NAME.XXXXXX") || exit 1

PIDS=() # everything this script started, killed on exit
PID= # the program the last start/restore_* brought up
THAW_PID= # the thaw restore process of the last restore_fg

log() { echo "# $*"; }

# Prints the tails of the files a failing test left, so run.sh shows them.
show_logs() {
	local f
	for f in "$TMP"/*.out "$TMP"/*.err "$TMP"/*.log; do
		[ -s "$f" ] || continue
		echo "---- ${f#"$TMP"/} (last 20 lines)"
		tail -n 20 "$f"
	done
}

fail() {
	echo "FAIL: $*" >&2
	show_logs >&2
	exit 1
}

pass() {
	echo "PASS"
	exit 0
}

skip() {
	echo "SKIP: $*"
	exit 77
}

track() {
	local p
	for p in "$@"; do
		[[ $p =~ ^[0-9]+$ ]] && [ "$p" -gt 1 ] && PIDS+=("$p")
	done
	return 0
}

# True while PID exists and one of its threads is not a zombie: a killed
# process's leader turns zombie before its other threads have finished exiting
# (and closed the files they share), slowly so under ASan.
alive() {
	local f line st
	[ -d "/proc/$1" ] || return 1
	for f in /proc/"$1"/task/*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		st=${line##*) }
		st=${st%% *}
		[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] && return 0
	done
	return 1
}

# wait_gone PID [SECONDS]: true once PID has exited (bounded).
wait_gone() {
	local pid=$1 limit=$((${2:-$TIMEOUT} * 20)) i=0
	while alive "$pid"; do
		i=$((i + 1))
		[ $i -ge "$limit" ] && return 1
		sleep 0.05
	done
	return 0
}

cleanup() {
	local rc=$? p
	trap - EXIT
	disown -a 2>/dev/null # no "Killed" job notices in the log
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait_gone "$p" 5
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "# kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

need_thaw() {
	[ -x "$THAW" ] || fail "thaw binary $THAW is missing (run make)"
}

need_prog() {
	[ -x "$PROGS/$1" ] || fail "test program $PROGS/$1 is missing (run make programs)"
}

# start NAME CMD [ARGS...]: runs CMD in the background, stdout through a pipe
# into $TMP/NAME.out, stderr appended to $TMP/NAME.err; sets PID.
start() {
	local name=$1 i pidf=$TMP/$1.pid catf=$TMP/$1.catpid
	shift
	: >"$TMP/$name.out"
	: >"$TMP/$name.err"
	rm -f "$pidf" "$catf"
	(
		bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidf" "$@" \
			2>>"$TMP/$name.err" </dev/null |
			{
				echo $BASHPID >"$catf"
				exec cat >>"$TMP/$name.out"
			}
	) &
	track $!
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		[ -s "$pidf" ] && [ -s "$catf" ] && break
		sleep 0.05
	done
	[ -s "$pidf" ] || fail "$name: could not start $*"
	PID=$(cat "$pidf")
	track "$PID" "$(cat "$catf" 2>/dev/null)"
	log "$name: started $* as pid $PID"
}

# start_holding NAME MIB: a python3 that holds MIB MiB of random bytes (so
# that its snapshot has that many pages of them), prints READY and sleeps.
start_holding() {
	start "$1" /usr/bin/python3 -c '
import os, sys, time
keep = os.urandom(int(sys.argv[1]) << 20)
print("READY", flush=True)
while True:
    time.sleep(1)
' "$2"
}

# copy_in DIR FILE AS: FILE at DIR/AS, and every library it needs at its own path
# (a tree to run a program in: thaw run --root, thaw image push).
copy_in() {
	local dir=$1 file=$2 as=$3 lib
	mkdir -p "$dir$(dirname "$as")"
	cp "$file" "$dir$as"
	for lib in $(ldd "$file" | grep -o '/[^ ]*'); do
		mkdir -p "$dir$(dirname "$lib")"
		cp -L "$lib" "$dir$lib"
	done
}

# wait_line NAME REGEX [SECONDS]: waits until $TMP/NAME.out has a matching line.
wait_line() {
	local name=$1 re=$2 limit=$((${3:-$TIMEOUT} * 20)) i
	for ((i = 0; i < limit; i++)); do
		grep -qE "$re" "$TMP/$name.out" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "$name: no line matching '$re' within ${3:-$TIMEOUT} s"
}

wait_ready() {
	wait_line "$1" '^READY$' "${2:-$TIMEOUT}"
}

# dump PID DIR [ARGS...]: runs thaw dump, output in $TMP/dump.log; returns its status.
dump() {
	local pid=$1 dir=$2 rc
	shift 2
	timeout -k 5 120 "$THAW" dump --pid "$pid" --dir "$dir" "$@" >"$TMP/dump.log" 2>&1
	rc=$?
	log "thaw dump --pid $pid --dir ${dir#"$TMP"/} $* -> $rc"
	# the contract: 0 done, 1 refused; anything else is a crash, a hang or no thaw at all
	[ $rc -le 1 ] || fail "thaw dump exited $rc: $(tail -n 5 "$TMP/dump.log")"
	return $rc
}

# dump_ok PID DIR [ARGS...]: a dump that must succeed and (without
# --leave-running) must leave no process behind.
dump_ok() {
	local pid=$1 dir=$2 a leave=0
	for a in "${@:3}"; do [ "$a" = --leave-running ] && leave=1; done
	dump "$@" || fail "thaw dump of pid $pid failed: $(tail -n 5 "$TMP/dump.log")"
	[ -d "$dir" ] || fail "thaw dump exited 0 but $dir does not exist"
	if [ $leave = 1 ]; then
		alive "$pid" || fail "pid $pid is gone after dump --leave-running"
	else
		wait_gone "$pid" 5 || fail "pid $pid still runs after thaw dump"
	fi
}

# The restored program's parent is thaw's namespace init: kill it with the rest.
track_restored() {
	local pid=$1 ppid
	track "$pid"
	ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	if [ -n "$ppid" ] && [ "$ppid" -gt 1 ] && [ "$ppid" != $$ ] &&
		[ "$(readlink "/proc/$ppid/exe" 2>/dev/null)" = "$(readlink -f "$THAW")" ]; then
		track "$ppid"
	fi
}

# lazy_server_pid NAME: the page server's PID, from thaw's log of restore NAME (-v)
lazy_server_pid() {
	local pid
	pid=$(sed -n 's/.*the page server is pid \([0-9]*\).*/\1/p' "$TMP/$1.err" | tail -n 1)
	[ -n "$pid" ] || fail "$1: thaw named no page server: $(tail -n 3 "$TMP/$1.err")"
	echo "$pid"
}

read_pidfile() {
	local f=$1 i
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		[ -s "$f" ] && grep -qE '^[0-9]+$' "$f" && break
		sleep 0.05
	done
	grep -qE '^[0-9]+$' "$f" 2>/dev/null || return 1
	cat "$f"
}

# restore_detached NAME DIR [ARGS...]: thaw restore --detach; sets PID.
# thaw restore's stdout is a pipe to a cat appending to $TMP/NAME.out, so the
# restored program writes there through a foreign pipe (and a later dump of it
# treats its stdout the same way again); thaw's stderr goes to $TMP/NAME.err.
# THAW_OPTS: global options of thaw (before "restore"), e.g. -v.
restore_detached() {
	local name=$1 dir=$2
	shift 2
	restore_detached_from "$name" --dir "$dir" "$@"
}

# restore_detached_from NAME SOURCE...: the same from any source (--store S --name N)
restore_detached_from() {
	local name=$1 rc pid i rcf=$TMP/$1.rc catf=$TMP/$1.catpid pidf=$TMP/$1.pidfile
	shift
	: >"$TMP/$name.out"
	: >"$TMP/$name.err"
	rm -f "$pidf" "$rcf" "$catf"
	(
		{
			# shellcheck disable=SC2086 # THAW_OPTS: thaw's global options, words
			timeout -k 5 120 "$THAW" ${THAW_OPTS:-} restore "$@" --detach --pidfile "$pidf" \
				</dev/null 2>>"$TMP/$name.err"
			echo $? >"$rcf.tmp" && mv "$rcf.tmp" "$rcf"
		} | {
			echo $BASHPID >"$catf"
			exec cat >>"$TMP/$name.out"
		}
	) &
	track $!
	for ((i = 0; i < 130 * 20; i++)); do
		[ -s "$rcf" ] && break
		sleep 0.05
	done
	track "$(cat "$catf" 2>/dev/null)"
	rc=$(cat "$rcf" 2>/dev/null)
	pid=$(read_pidfile "$pidf") && track_restored "$pid"
	[ "$rc" = 0 ] || fail "$name: thaw restore --detach exited ${rc:-?}: $(tail -n 5 "$TMP/$name.err")"
	[ -n "$pid" ] || fail "$name: thaw restore --detach wrote no pid to its pidfile"
	alive "$pid" || fail "$name: restored pid $pid is not running"
	PID=$pid
	log "$name: restored ($*) as pid $PID"
}

# restore_fails NAME DIR [ARGS...]: a restore that must be refused; thaw's stderr in $TMP/NAME.err.
# PIDs of running processes whose executable is our thaw binary.
thaw_procs() {
	local d exe
	exe=$(readlink -f "$THAW")
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$exe" ] && echo "${d#/proc/}"
	done
}

restore_fails() {
	local name=$1 dir=$2 rc pid before p
	shift 2
	before=" $(thaw_procs | tr '\n' ' ') "
	: >"$TMP/$name.err"
	rm -f "$TMP/$name.pidfile"
	timeout -k 5 60 "$THAW" restore --dir "$dir" --detach --pidfile "$TMP/$name.pidfile" "$@" \
		</dev/null >"$TMP/$name.out" 2>>"$TMP/$name.err"
	rc=$?
	if pid=$(TIMEOUT=1 read_pidfile "$TMP/$name.pidfile"); then
		track_restored "$pid"
		fail "$name: restore of a bad snapshot started pid $pid"
	fi
	for p in $(thaw_procs); do
		if [[ $before != *" $p "* ]] && alive "$p"; then
			track "$p"
			fail "$name: failed restore left thaw process $p behind"
		fi
	done
	[ $rc != 0 ] || fail "$name: thaw restore exited 0"
	[ $rc = 126 ] || [ $rc = 127 ] && fail "$name: could not run $THAW (exit $rc)"
	[ $rc = 124 ] || [ $rc = 137 ] && fail "$name: thaw restore hung"
	[ $rc -gt 128 ] && fail "$name: thaw restore died of signal $((rc - 128))"
	[ -s "$TMP/$name.err" ] || fail "$name: thaw restore failed without a message"
	log "$name: refused (exit $rc): $(head -n 3 "$TMP/$name.err" | tr '\n' ' ')"
}

# restore_fg NAME DIR [ARGS...]: thaw restore in the foreground, started in
# the background of this script; sets THAW_PID (thaw) and PID (the program).
# Collect its exit status with wait_status.
restore_fg() {
	local name=$1 dir=$2 pid
	shift 2
	: >"$TMP/$name.out"
	: >"$TMP/$name.err"
	rm -f "$TMP/$name.pidfile"
	"$THAW" restore --dir "$dir" --pidfile "$TMP/$name.pidfile" "$@" \
		</dev/null >>"$TMP/$name.out" 2>>"$TMP/$name.err" &
	THAW_PID=$!
	track "$THAW_PID"
	pid=$(read_pidfile "$TMP/$name.pidfile") ||
		fail "$name: thaw restore (pid $THAW_PID) wrote no pid to its pidfile"
	track_restored "$pid"
	PID=$pid
	log "$name: thaw restore pid $THAW_PID, program pid $PID"
}

# wait_status PID [SECONDS]: waits (bounded) for a child of this shell; sets STATUS.
STATUS=
wait_status() {
	local pid=$1
	wait_gone "$pid" "${2:-$TIMEOUT}" || fail "pid $pid did not exit within ${2:-$TIMEOUT} s"
	wait "$pid"
	STATUS=$?
}

# check_output NAME: the program said PASS and never FAIL.
check_output() {
	local name=$1
	if grep -q '^FAIL' "$TMP/$name.out"; then
		fail "$name: $(grep '^FAIL' "$TMP/$name.out" | head -n 10 | tr '\n' ';')"
	fi
	grep -q '^PASS$' "$TMP/$name.out" || fail "$name: program did not print PASS"
}

# finish NAME PID: asks the program to verify itself (SIGUSR1) and checks its verdict.
finish() {
	local name=$1 pid=$2
	kill -USR1 "$pid" 2>/dev/null || fail "$name: pid $pid is gone before SIGUSR1"
	wait_gone "$pid" "$TIMEOUT" || fail "$name: pid $pid still runs ${TIMEOUT} s after SIGUSR1"
	# its last line passes through a cat that may write it after the program is gone
	wait_line "$name" '^(PASS|FAIL)'
	check_output "$name"
	log "$name: PASS"
}

# control CMD [ARGS...]: the program passes its own check without thaw, so a
# failure after restore is thaw's.
control() {
	start control "$@"
	wait_ready control
	sleep 0.3
	finish control "$PID"
}

# check_snapshot DIR: the published snapshot has its files and private modes.
check_snapshot() {
	local dir=$1 f mode
	mode=$(stat -c %a "$dir") || fail "snapshot $dir missing"
	[ "$mode" = 700 ] || fail "snapshot dir mode is $mode, want 700"
	for f in manifest.json manifest.crc pages.idx pages.img data.img; do
		[ -f "$dir/$f" ] || fail "snapshot lacks $f"
		mode=$(stat -c %a "$dir/$f")
		[ "$mode" = 600 ] || fail "snapshot $f mode is $mode, want 600"
	done
	# published atomically: no temporary directory left beside it
	if compgen -G "$dir.tmp*" >/dev/null; then
		fail "temporary snapshot directory left beside $dir"
	fi
}

# roundtrip NAME CMD [ARGS...]: start, READY, dump, restore --detach, SIGUSR1, PASS.
roundtrip() {
	local name=$1 snap=$TMP/$1.snap
	shift
	start "$name" "$@"
	wait_ready "$name"
	sleep 0.3 # let the threads get into their blocking calls
	dump_ok "$PID" "$snap"
	check_snapshot "$snap"
	grep -q '^READY$' "$TMP/$name.out" || fail "$name: lost its output"
	restore_detached "$name-restored" "$snap"
	sleep 0.3 # the program runs on for a while before it is asked
	finish "$name-restored" "$PID"
}

# Descriptors inherited from whoever ran us would end up in the programs and
# their snapshots; keep only 0-2 (and bash's own script fd 255).
for _fd in /proc/$$/fd/*; do
	_fd=${_fd##*/}
	# (no redirection on this loop: bash would park fd 2 in a descriptor we close)
	[[ $_fd =~ ^[0-9]+$ ]] && [ "$_fd" -gt 2 ] && [ "$_fd" -lt 255 ] &&
		[ -e "/proc/$$/fd/$_fd" ] && eval "exec $_fd>&-"
done
unset _fd
