# shellcheck shell=bash
# treelib.sh - helpers for the process-tree tests (72-76), sourced after lib.sh.
#
# lib.sh kills by PID what its helpers started: a program's root, thaw, the
# restored root and its namespace init.  A tree's other processes are not
# among them: a dump that is refused or a test that fails before the dump
# would leave them running.  track_tree records them as well.

# tree_pids PID: PID and all its descendants (children of every thread), one a line.
tree_pids() {
	local todo=("$1") p c
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		echo "$p"
		for c in $(children_of "$p"); do
			todo+=("$c")
		done
	done
}

# track_tree PID: PID and all its descendants are killed when the script exits.
track_tree() {
	# shellcheck disable=SC2046
	track $(tree_pids "$1")
}

# proc_state PID: the one-letter state of PID ("" when gone).
proc_state() {
	sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null
}

# children_of PID: the children of PID (all its threads), on one line.
children_of() {
	cat /proc/"$1"/task/*/children 2>/dev/null | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
}
