#!/usr/bin/env bash
# Source-level profile of one fused step (Nsight Compute): which lines of the kernels issue the
# instructions and where warps stall. Builds with -lineinfo; writes ncu's source page as CSV.
#   bench/gpu/profile.sh <output-folder>      (GPU machine: nvcc, cmake, ncu, python3 + torch)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-${OUT:-$root/gpu-profile-out}}
build=$root/build/gpu-profile
mkdir -p "$out"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
cmake -S "$root" -B "$build" -DMICROADAM_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" \
  -DCMAKE_CUDA_FLAGS=-lineinfo > "$out/build.log" 2>&1 &&
  cmake --build "$build" -j"$(nproc)" --target microadam_capi >> "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
timeout 300 ncu --clock-control none --kernel-name regex:fusedStep --launch-skip 2 --launch-count 1 \
  --section SourceCounters --section WarpStateStats --section InstructionStats --section ComputeWorkloadAnalysis \
  --import-source yes -f -o "$out/step" \
  python3 "$root/bench/gpu/torch_compare.py" --lib "$build/libmicroadam_capi.so" --out "$out/bench.json" \
  --sizes 100M --dtypes f32 --methods microadam --many-tensors 0 --warmup 1 --repetitions 2 > "$out/ncu-run.txt" 2>&1
ncu --import "$out/step.ncu-rep" --print-details all > "$out/details.txt" 2>&1
ncu --import "$out/step.ncu-rep" --page source --csv --print-source cuda > "$out/source-cuda.csv" 2>&1
ncu --import "$out/step.ncu-rep" --page source --csv --print-source sass > "$out/source-sass.csv" 2>&1
ls -la "$out"
grep -E "Executed Ipc|Issue Slots|Instructions|Stall|Warp Cycles" "$out/details.txt" | head -40
gzip -f "$out/source-sass.csv" "$out/step.ncu-rep"
