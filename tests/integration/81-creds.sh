#!/bin/bash
# 81-creds.sh - a restored process has exactly the credentials it was dumped
# with, never thaw's: ids, groups, the five capability sets, no_new_privs
# (the status lines before and after must be the same), for a process that
# dropped every capability as root (issue 12's setpriv case), one that runs
# as uid 1000 with groups, and a tree whose child runs as another uid than
# its root.  A snapshot with capabilities thaw restore does not hold is
# refused: a capability set can only shrink on the way.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../treelib.sh"
need_thaw

# creds_of PID: the credential lines of PID's status, one string
creds_of() {
	grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' \
		"/proc/$1/status" | tr '\t\n' ' |'
}

# wait_exec PID COMM: until PID has exec'd into COMM (setpriv execs the program)
wait_exec() {
	local i
	for ((i = 0; i < TIMEOUT * 20; i++)); do
		[ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	fail "pid $1 did not become $2"
}

# same_creds NAME CMD...: start CMD (which ends as sleep), dump, restore, compare
same_creds() {
	local name=$1 before after
	shift
	start "$name" "$@"
	wait_exec "$PID" sleep
	before=$(creds_of "$PID")
	dump_ok "$PID" "$TMP/$name.snap"
	restore_detached "$name-restored" "$TMP/$name.snap"
	after=$(creds_of "$PID")
	[ "$before" = "$after" ] || fail "$name: credentials before: $before; after: $after"
	log "$name: $after"
}

same_creds no-caps setpriv --inh-caps=-all --bounding-set=-all --no-new-privs sleep 1000
grep -q '^CapEff:[[:space:]]*0*$' "/proc/$PID/status" ||
	fail "no-caps: the restored process has capabilities"
same_creds uid-1000 setpriv --reuid=1000 --regid=100 --groups=27,100,65534 sleep 1000

# a process whose capabilities thaw restore does not hold itself is refused, naming them
start full-caps sleep 1000
dump_ok "$PID" "$TMP/full.snap"
: >"$TMP/less.err"
setpriv --bounding-set=-net_admin,-sys_boot timeout -k 5 60 "$THAW" restore --dir "$TMP/full.snap" \
	--detach --pidfile "$TMP/less.pid" </dev/null >/dev/null 2>"$TMP/less.err"
rc=$?
if pid=$(TIMEOUT=1 read_pidfile "$TMP/less.pid"); then
	track_restored "$pid"
	fail "a restore without cap_net_admin started pid $pid"
fi
[ $rc = 1 ] || fail "thaw restore without cap_net_admin exited $rc: $(tail -n 3 "$TMP/less.err")"
grep -q 'has cap_net_admin, cap_sys_boot, which thaw restore does not have' "$TMP/less.err" ||
	fail "the refusal does not name the capabilities: $(tail -n 3 "$TMP/less.err")"
log "refused: $(grep -m1 'does not have' "$TMP/less.err")"

# a root whose child runs as uid 1000: each comes back with its own
start tree bash -c 'setpriv --reuid=1000 --regid=1000 --clear-groups sleep 1000 & exec sleep 1000'
wait_exec "$PID" sleep
track_tree "$PID"
for ((i = 0; i < TIMEOUT * 20; i++)); do
	child=$(children_of "$PID")
	[ -n "$child" ] && [ "$(cat "/proc/$child/comm" 2>/dev/null)" = sleep ] && break
	sleep 0.05
done
[ -n "$child" ] || fail "tree: the child did not start"
track "$child"
grep -q '^Uid:[[:space:]]*1000[[:space:]]' "/proc/$child/status" || fail "tree: the child is not uid 1000"
root_before=$(creds_of "$PID")
child_before=$(creds_of "$child")
dump_ok "$PID" "$TMP/tree.snap"
restore_detached tree-restored "$TMP/tree.snap"
track_tree "$PID"
child=$(children_of "$PID")
[ -n "$child" ] || fail "tree: the restored root has no child"
[ "$(creds_of "$PID")" = "$root_before" ] ||
	fail "tree: root credentials before: $root_before; after: $(creds_of "$PID")"
[ "$(creds_of "$child")" = "$child_before" ] ||
	fail "tree: child credentials before: $child_before; after: $(creds_of "$child")"
log "tree: root $(creds_of "$PID" | cut -d'|' -f1), child $(creds_of "$child" | cut -d'|' -f1)"
pass
