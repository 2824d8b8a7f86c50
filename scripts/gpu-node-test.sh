#!/usr/bin/env bash
# On a GPU machine without Node: unpacks .gpu-node/node-jest.tar.xz (scripts/gpu-node-bundle.sh)
# and runs the jest tests against the carried CUDA build of the addon (build/Release). Prints
# the device, then jest's report; output also goes to $OUT (or ./gpu-node-out). test/nccl.test.ts
# also needs dist/ (npm run build:ts) carried.
#   scripts/gpu-node-test.sh [jest test paths...]      (default: test/cuda.test.ts test/nccl.test.ts)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu-node-out}
mkdir -p "$out" /tmp/gpu-node
tar xJf "$root/.gpu-node/node-jest.tar.xz" -C /tmp/gpu-node || exit 3
[ -e "$root/node_modules" ] || ln -s /tmp/gpu-node/node_modules "$root/node_modules"
export PATH=/tmp/gpu-node/node:$PATH
cd "$root"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
node -e "console.log(JSON.stringify(require('./build/Release/microadam_native.node').buildInfo().cuda))" | tee -a "$out/gpu.txt"
# NCCL for test/nccl.test.ts: PyTorch's wheels bring it (nvidia-nccl-cu12), off the loader's path.
if [ -z "${MICROADAM_NCCL_LIBRARY:-}" ]; then
  nccl=$(python3 -c 'import glob, os, nvidia.nccl as n; print((glob.glob(os.path.join(list(n.__path__)[0], "lib", "libnccl.so*")) or [""])[0])' 2>/dev/null)
  [ -n "$nccl" ] && export MICROADAM_NCCL_LIBRARY=$nccl && echo "NCCL: $nccl" | tee -a "$out/gpu.txt"
fi
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test/cuda.test.ts test/nccl.test.ts)
node node_modules/jest/bin/jest.js --verbose "${tests[@]}" 2>&1 | tee "$out/jest.log" | tail -80
exit "${PIPESTATUS[0]}"
