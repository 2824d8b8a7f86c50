#!/usr/bin/env bash
# Packs what the jest tests need to run on a GPU machine that has no Node and no package
# registry: this machine's node binary and the packages that jest, ts-jest, typescript and the
# tests load, into .gpu-node/node-jest.tar.xz (git-ignored through .git/info/exclude). Build the
# addon with CUDA first (npm install, where nvcc is), then carry .gpu-node and build/Release to
# the GPU machine and run scripts/gpu-node-test.sh there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.gpu-node
mkdir -p "$out"
grep -qx '/.gpu-node/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu-node/' >> "$root/.git/info/exclude"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/node"
cp "$(readlink -f "$(command -v node)")" "$staging/node/node"
# The packages the tests load and everything they depend on, found the way Node resolves them.
packages=$(cd "$root" && node -e '
  const fs = require("fs"), path = require("path");
  const root = process.cwd(), seen = new Set();
  const locate = (name, from) => {
    for (let d = from; ; d = path.dirname(d)) {
      const c = path.join(d, "node_modules", name);
      if (fs.existsSync(path.join(c, "package.json"))) return c;
      if (path.dirname(d) === d) return null;
    }
  };
  const visit = (dir) => {
    if (!dir || seen.has(dir)) return;
    seen.add(dir);
    const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    for (const n of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies, ...pj.peerDependencies }))
      visit(locate(n, dir));
  };
  for (const n of ["jest", "ts-jest", "typescript", "ts-node", "fast-check", "node-gyp-build", "@types/jest", "@types/node"])
    visit(locate(n, root));
  console.log([...seen].map((d) => path.relative(root, d)).sort().join("\n"));
')
(cd "$root" && tar cf - $packages) | (cd "$staging" && tar xf -)
tar cJf "$out/node-jest.tar.xz" -C "$staging" node node_modules
ls -la "$out/node-jest.tar.xz"
