#!/usr/bin/env bash
# GPU check: builds the native self-tests and the C ABI library with CMake (no npm, no Node),
# runs the CUDA engine against the CPU engine bit for bit, runs compute-sanitizer (memcheck,
# racecheck) when it is there, and benchmarks the fused step against torch.optim.AdamW(fused=True)
# on the same card (bench/gpu/torch_compare.py). Needs nvcc, cmake and python3 with PyTorch.
#
#   scripts/gpu-check.sh [output-folder]     (default: $OUT, else ./gpu-check-out)
#
# Everything it prints is also kept in the output folder; docs/gpu-validation.md records a run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${OUT:-$root/gpu-check-out}}
build=$root/build/gpu-check
mkdir -p "$out"
status=0

{ date -u; nvidia-smi; nvcc --version; cmake --version | head -1; python3 -c 'import torch; print("torch", torch.__version__)'; } \
  > "$out/machine.txt" 2>&1
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
echo "== build for sm_${arch:-90}"
if ! { cmake -S "$root" -B "$build" -DMICROADAM_SELFTEST=ON -DMICROADAM_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" &&
       cmake --build "$build" -j"$(nproc)" --target microadam_selftest microadam_cuda_selftest microadam_capi; } \
       > "$out/build.log" 2>&1; then
  tail -40 "$out/build.log"
  echo "BUILD FAILED"
  exit 1
fi
grep -E "Compiling entry function|Used [0-9]+ registers|spill|stack frame" "$out/build.log" | sort -u > "$out/ptxas.txt"
cat "$out/ptxas.txt"

echo "== CPU self-test"
"$build/microadam_selftest" > "$out/cpu-selftest.txt" 2>&1 || status=1
tail -1 "$out/cpu-selftest.txt"

echo "== CUDA self-test (bit-exact against the CPU engine)"
"$build/microadam_cuda_selftest" --require-device 2>&1 | tee "$out/cuda-selftest.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

if command -v compute-sanitizer >/dev/null 2>&1; then
  for tool in memcheck racecheck synccheck; do
    timeout 240 compute-sanitizer --tool "$tool" --error-exitcode 3 "$build/microadam_cuda_selftest" --quick --require-device \
      > "$out/sanitizer-$tool.txt" 2>&1
    rc=$?
    echo "compute-sanitizer $tool: exit $rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|passed' "$out/sanitizer-$tool.txt" | tr '\n' ' ')"
    [ "$rc" -eq 0 ] || status=1
  done
else
  echo "compute-sanitizer: not found, skipped"
fi

echo "== benchmark against torch.optim.AdamW(fused=True)"
PYTHONUNBUFFERED=1 python3 "$root/bench/gpu/torch_compare.py" --lib "$build/libmicroadam_capi.so" --out "$out/bench.json" \
  2>&1 | tee "$out/bench.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if [ -n "${GPU_CHECK_PROFILE:-}" ] && command -v ncu >/dev/null 2>&1; then
  echo "== ncu: one fused step at 100M f32 (clocks as found)"
  timeout 180 ncu --clock-control none --kernel-name regex:fusedStep --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section MemoryWorkloadAnalysis \
    python3 "$root/bench/gpu/torch_compare.py" --lib "$build/libmicroadam_capi.so" --out "$out/profile-bench.json" \
    --sizes 100M --dtypes f32 --methods microadam --many-tensors 0 --warmup 1 --repetitions 2 > "$out/ncu.txt" 2>&1
  grep -E "Duration|Throughput|Achieved Occupancy|Theoretical Occupancy|Registers|Shared Memory|Stall|Warp Cycles|Block Limit" "$out/ncu.txt" | head -60
fi
echo "gpu-check: exit $status"
exit $status
