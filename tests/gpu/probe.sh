#!/bin/bash
# probe.sh - what the device machine has, and the CUDA checkpoint calls
# around a plain CPU dump/restore by thaw (no src/gpu/ involved).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/probe.log") 2>&1
echo "== env"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap,persistence_mode --format=csv
cat /proc/driver/nvidia/version; ls /proc/driver/nvidia/gpus/; cat /proc/driver/nvidia/gpus/*/information
which python3; python3 -c 'import torch,sys; print(sys.executable, torch.__version__, torch.cuda.is_available())'
ls -la /usr/bin/python3*; cat /etc/os-release | head -2; uname -r
dpkg -l | grep -E 'jansson|zstd|lz4|curl|ssl|cmocka' | awk '{print $2, $3}'
nvcc --version | tail -2
grep -n -A3 'cuCheckpointProcess[A-Za-z]*(' /usr/local/cuda/include/cuda.h | head -40
ldconfig -p | grep -E 'libcuda.so|libnvidia-ml'
