#!/usr/bin/env bash
# The CPU step against the native fused AdamW on every gradient stream, f32 and bf16, 16M and
# 128M, one thread and all threads (bench/step/kernel-driver.cpp: MicroAdam and AdamW steps
# alternate in one process, so both see the same load). Prints the machine (CPU model, AVX-512
# flags, a copy-bandwidth probe) and the load beside every run. The streams: bench, lognormal,
# mnist (the MLP's captured gradients) and cnn (the CNN's: --grads mnist with its file). Usage,
# after npm run build:native, npx ts-node bench/step/capture-mnist-grads.ts and
# npx ts-node bench/step/capture-mnist-grads.ts --model cnn:
#   g++ -O2 -std=c++20 -Icsrc bench/step/kernel-driver.cpp build/libmicroadam_core.a -lpthread -o build/kernel-driver
#   bash bench/step/kernel-matrix.sh [sizes (16M 128M)] > results.txt
set -euo pipefail
sizes=${SIZES:-"16M 128M"}
streams=${STREAMS:-"bench lognormal mnist cnn"}
date -u
grep -m1 "model name" /proc/cpuinfo
echo "flags: $(grep -o 'avx512[a-z0-9_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "cores: $(nproc), memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
probe() {
  node -e '
    const copy = require("./build/bench/microadam_bandwidth_probe.node").copy;
    const n = 64 * 1024 * 1024, from = new Float32Array(n).fill(1), to = new Float32Array(n);
    const threads = require("os").cpus().length, times = [];
    for (let r = 0; r < 7; r++) { const t = process.hrtime.bigint(); copy(to, from, threads); times.push(Number(process.hrtime.bigint() - t) / 1e6); }
    times.sort((a, b) => a - b);
    console.log(`probe: 64M floats copied on ${threads} threads, median ${times[3].toFixed(1)} ms, ${(8 * n / times[3] / 1e6).toFixed(1)} GB/s`);'
}
probe
for numel in $sizes; do
  for dtype in f32 bf16; do
    for threads in 1 $(nproc); do
      for grads in $streams; do
        steps=10
        [ "$numel" = 128M ] && steps=6
        echo "--- $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"
        if [ "$grads" = cnn ]; then source=(--grads mnist --mnist build/mnist-cnn-grads.f32); else source=(--grads "$grads"); fi
        echo "stream: $grads"
        build/kernel-driver --numel "$numel" --threads "$threads" --dtype "$dtype" "${source[@]}" --steps "$steps" --warmup 10
      done
    done
  done
done
probe
echo "--- end $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"
