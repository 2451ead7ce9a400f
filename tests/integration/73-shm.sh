#!/bin/bash
# 73-shm.sh - shared memory between a parent and its child comes back
# (tests/programs/shm.c): a POSIX shm object, an unlinked one still mapped, a
# named semaphore (value 3) and a SysV segment.  After the dump the host's
# objects are removed: the restore must bring them from the snapshot, into a
# private /dev/shm of its own mount namespace and a new IPC namespace where
# the segment has its old id.  A first round has the POSIX objects alone
# (shm posix), a second all of them.  Both processes check the contents, each
# sees the other's writes after restore, and sem_post in one wakes sem_wait in
# the other.
#
# With SHM_SEMNAME=1 (77-shm-sem-name.sh) one round, POSIX alone, checks
# besides that the semaphore is back under its name: sem.NAME in the restored
# /dev/shm, and sem_open("NAME") after restore gives the same semaphore.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_prog shm

TAG=$$-$RANDOM
SHMIDS=()
# The host's objects the programs leave behind when killed (the dump kills them).
rm_host_objects() {
	local rc=$? id
	rm -f /dev/shm/thaw-t-"$TAG"* /dev/shm/sem.thaw-t-"$TAG"*
	for id in "${SHMIDS[@]}"; do
		ipcrm -m "$id" 2>/dev/null
	done
	return $rc
}
trap 'rm_host_objects; cleanup' EXIT

# shmid NAME: the SysV id the program NAME printed
shmid() {
	awk '$1 == "SHMID" { print $2; exit }' "$TMP/$1.out"
}

ctl_args=()
[ "${SHM_SEMNAME:-0}" = 1 ] && ctl_args=(posix semname)
start control "$PROGS/shm" "$TAG-c" "${ctl_args[@]}"
wait_ready control
track_tree "$PID"
SHMIDS+=("$(shmid control)")
finish control "$PID"
[ -e "/dev/shm/thaw-t-$TAG-c-obj" ] && fail "control: left its shm object behind"

need_thaw

# round NAME TAG [posix] [semname]: start, dump, remove the host's objects,
# restore, check.
round() {
	local name=$1 tag=$2 id orig semname=0
	shift 2
	[[ " $* " == *" semname "* ]] && semname=1
	start "$name" "$PROGS/shm" "$tag" "$@"
	wait_ready "$name"
	track_tree "$PID"
	orig=$PID
	id=$(shmid "$name")
	[ -n "$id" ] || fail "$name: no SHMID line"
	[ "$id" != -1 ] && SHMIDS+=("$id")
	[ -e "/dev/shm/thaw-t-$tag-obj" ] ||
		fail "$name: no /dev/shm/thaw-t-$tag-obj before the dump"
	[ -e "/dev/shm/sem.thaw-t-$tag-sem" ] ||
		fail "$name: no semaphore in /dev/shm before the dump"
	[ -e "/dev/shm/thaw-t-$tag-unl" ] &&
		fail "$name: the unlinked object has a name before the dump"
	sleep 0.3
	dump_ok "$orig" "$TMP/$name.snap"
	check_snapshot "$TMP/$name.snap"

	# from here on only the snapshot holds them
	rm -f "/dev/shm/thaw-t-$tag-obj" "/dev/shm/sem.thaw-t-$tag-sem"
	if [ "$id" != -1 ]; then
		ipcrm -m "$id" ||
			fail "$name: ipcrm -m $id: the segment was not left on the host at the dump"
	fi

	restore_detached "$name-restored" "$TMP/$name.snap"
	track_tree "$PID"
	if [ "$id" != -1 ]; then
		[ "$(readlink "/proc/$PID/ns/ipc")" != "$(readlink /proc/self/ns/ipc)" ] ||
			fail "$name: the restored program shares our IPC namespace"
	fi
	[ "$(readlink "/proc/$PID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
		fail "$name: the restored program shares our mount namespace"
	[ -e "/proc/$PID/root/dev/shm/thaw-t-$tag-obj" ] ||
		fail "$name: no thaw-t-$tag-obj in the restored program's /dev/shm:" \
			"$(ls "/proc/$PID/root/dev/shm" 2>&1)"
	if [ $semname = 1 ]; then
		[ -e "/proc/$PID/root/dev/shm/sem.thaw-t-$tag-sem" ] ||
			fail "$name: no sem.thaw-t-$tag-sem in the restored program's /dev/shm:" \
				"$(ls "/proc/$PID/root/dev/shm" 2>&1)"
	fi
	[ -e "/proc/$PID/root/dev/shm/thaw-t-$tag-unl" ] &&
		fail "$name: the unlinked object has a name in the restored /dev/shm"
	compgen -G "/dev/shm/*thaw-t-$tag-*" >/dev/null &&
		fail "$name: the restore created objects in the host's /dev/shm:" \
			"$(echo /dev/shm/*thaw-t-"$tag"-*)"
	finish "$name-restored" "$PID"
}

if [ "${SHM_SEMNAME:-0}" = 1 ]; then
	round semname "$TAG-s" posix semname
else
	# POSIX objects alone first (a failure here is not SysV's), then with the SysV segment
	round posix "$TAG-p" posix
	round shm "$TAG"
fi
pass
