#!/bin/bash
# 30-python-torch.sh - reference workload A: a Python worker with torch and
# numpy (tests/programs/torch_worker.py) computes the same bits after restore.
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
WORKER=$(cd "$(dirname "$0")/../programs" && pwd)/torch_worker.py
TIMEOUT=180 # importing torch is slow on a cold machine
if ! "$PY" -c 'import torch, numpy' >"$TMP/import.log" 2>&1; then
	# CI installs python3-torch (make deps): there, a missing torch is a failure
	[ "${CI:-}" = true ] && fail "cannot import torch and numpy: $(tail -n 3 "$TMP/import.log")"
	skip "python3-torch or python3-numpy not installed"
fi
control "$PY" "$WORKER"
need_thaw
roundtrip torch "$PY" "$WORKER"
pass
