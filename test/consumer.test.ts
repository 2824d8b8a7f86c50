// The package as a user installs it (slow: it packs, which builds the prebuilds, and builds once
// more from source). `npm pack` runs in a copy of this checkout, then the tarball is installed
// into empty projects:
//   - with --ignore-scripts (what npm's install-script approval gives by default): the prebuild
//     loads, nothing is compiled, CUDA is compiled in, and CommonJS, ESM, the tfjs subpath and
//     TypeScript (node10, nodenext and bundler resolution) all work;
//   - with a forced source build (install scripts approved, MICROADAM_NATIVE_FORCE_BUILD=1): the
//     shipped sources build with what the package brings, with CUDA where nvcc is.
// MICROADAM_CONSUMER_TARBALL names a tarball to test instead of packing one.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { checkFile } = require("../scripts/check-glibc-floor") as { checkFile(file: string): { versions: string[]; problems: string[] } };

const root = path.join(__dirname, "..");
const rootPackage = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const nvccHere = fs.existsSync("/usr/local/cuda/bin/nvcc") || hasCommand("nvcc");
const quiet = { stdio: "pipe" as const, encoding: "utf8" as const };

function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function node(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(process.execPath, args, { cwd, env, ...quiet });
}

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  try {
    return execFileSync("npm", [...args, "--no-audit", "--no-fund", "--prefer-offline"], { cwd, env, ...quiet });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(" ")} failed in ${cwd}:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
  }
}

// One real step through the public API; prints what the test compares.
const SMOKE = `
  const n = 1000, p = new Float32Array(n).fill(1), g = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const s = m.createMicroAdamState({ numel: n });
  const r = m.microAdamStep(s, p, g, { lr: 0.1 });
  const b = m.backends();
  console.log(JSON.stringify({ step: r.step, changed: p.some((v) => v !== 1), cuda: b.cuda.compiled }));
`;

const TS_USER = `
import { MicroAdam, backends, createMicroAdamState } from "microadam-native";
import { MicroAdamOptimizer } from "microadam-native/tfjs";
import type { MicroAdamOptions } from "microadam-native";
const options: MicroAdamOptions = { lr: 1e-3 };
const state = createMicroAdamState({ numel: 100 });
const cudaCompiled: boolean = backends().cuda.compiled;
export const made = [new MicroAdam([{ numel: 100 }] as never, options), state, cudaCompiled, MicroAdamOptimizer];
`;

function emptyProject(dir: string, extra: Record<string, unknown> = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: path.basename(dir), version: "1.0.0", private: true, ...extra }));
  return dir;
}

/** Packs a copy of this checkout (npm pack must not touch the checkout's build/ or package.json). */
function packCopy(work: string): string {
  const source = path.join(work, "source");
  fs.mkdirSync(source);
  const skip = new Set(["node_modules", "build", "build-prebuild", "build-distributed", "prebuilds", "dist", ".git"]);
  for (const entry of fs.readdirSync(root)) {
    if (!skip.has(entry) && !entry.endsWith(".tgz")) fs.cpSync(path.join(root, entry), path.join(source, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, "node_modules"), path.join(source, "node_modules"));
  npm(["pack", "--pack-destination", work], source);
  expect(fs.readFileSync(path.join(source, "package.json"), "utf8")).toBe(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  expect(fs.readFileSync(path.join(source, "README.md"), "utf8")).toBe(fs.readFileSync(path.join(root, "README.md"), "utf8"));
  expect(fs.existsSync(path.join(source, ".pack-originals"))).toBe(false);
  return path.join(work, fs.readdirSync(work).find((f) => f.endsWith(".tgz"))!);
}

let work: string;
let tarball: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-consumer-"));
  tarball = process.env.MICROADAM_CONSUMER_TARBALL || packCopy(work);
}, 1_500_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test("the tarball ships the prebuilds, the sources a source build needs, LICENSE, and a manifest for users", () => {
  const listing = execFileSync("tar", ["-tzf", tarball], quiet).split("\n");
  const has = (file: string) => listing.includes(`package/${file}`);
  expect(has("prebuilds/linux-x64/microadam-native.napi.glibc.node")).toBe(true);
  if (hasCommand("aarch64-linux-gnu-g++") && hasCommand("qemu-aarch64-static")) {
    expect(has("prebuilds/linux-arm64/microadam-native.napi.glibc.node")).toBe(true);
  } else {
    console.warn("SKIPPED: linux-arm64 prebuild not expected here (no aarch64-linux-gnu-g++ or qemu-aarch64-static)");
  }
  for (const file of ["LICENSE", "README.md", "dist/index.js", "dist/index.mjs", "dist/index.d.ts", "dist/tfjs/index.d.ts",
    "CMakeLists.txt", "binding.gyp", "scripts/install.js", "scripts/build-native.js", "scripts/list-sources.js", "scripts/build-distributed.js",
    "cmake/glibc_floor.cmake", "csrc/core/call_format.h", "cuda/cuda_backend.cpp"]) {
    expect([file, has(file)]).toEqual([file, true]);
  }
  expect(listing.filter((f) => /\.(js|ts)\.map$/.test(f))).toEqual([]); // source maps would point at lib/*.ts, not shipped
  expect(listing.filter((f) => /^package\/(test|bench|lib|\.pack-originals)\//.test(f) || /\.dev$/.test(f))).toEqual([]);

  // README links that work on the npm page: shipped files by absolute URL, each one in the tarball.
  const readme = execFileSync("tar", ["-xzOf", tarball, "package/README.md"], quiet);
  expect(readme.match(/\]\((docs\/|LICENSE)[^)]*\)/g) ?? []).toEqual([]);
  const base = `https://unpkg.com/microadam-native@${rootPackage.version}/`;
  const linked = [...readme.matchAll(/\]\((https:\/\/unpkg\.com\/[^)#\s]*)/g)].map((m) => m[1]);
  expect(linked.length).toBeGreaterThan(3);
  for (const url of linked) expect([url, url.startsWith(base) && has(url.slice(base.length))]).toEqual([url, true]);

  const manifest = JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], quiet));
  expect(Object.keys(manifest.scripts)).toEqual(["install"]);
  expect(manifest.devDependencies).toBeUndefined();
  expect(manifest.dependencies).toEqual(rootPackage.dependencies);
  expect(manifest.bin).toEqual({ "microadam-native-build-distributed": "scripts/build-distributed.js" });
});

describe("installed with --ignore-scripts", () => {
  let user: string;
  let installed: string;

  beforeAll(() => {
    user = emptyProject(path.join(work, "user"));
    npm(["install", "--ignore-scripts", tarball, "typescript@5.9.3", "@tensorflow/tfjs@4.22.0", "@types/node@20.19.43"], user);
    installed = path.join(user, "node_modules", "microadam-native");
  }, 600_000);

  test("the prebuild loads, nothing was compiled, and it carries the CUDA engine", () => {
    expect(fs.existsSync(path.join(installed, "build"))).toBe(false);
    const resolved = node(["-p", "require('node-gyp-build').resolve(require('path').dirname(require.resolve('microadam-native/package.json')))"], user).trim();
    expect(resolved).toBe(path.join(installed, "prebuilds", "linux-x64", "microadam-native.napi.glibc.node"));
    const cjs = JSON.parse(node(["-e", `const m = require('microadam-native'); ${SMOKE}`], user));
    expect(cjs).toEqual({ step: 1, changed: true, cuda: true });
    const esm = JSON.parse(node(["--input-type=module", "-e", `import * as m from 'microadam-native'; ${SMOKE}`], user));
    expect(esm).toEqual({ step: 1, changed: true, cuda: true });
  });

  test("the shipped binaries need no glibc newer than 2.28 and no libstdc++", () => {
    for (const arch of ["linux-x64", "linux-arm64"]) {
      const file = path.join(installed, "prebuilds", arch, "microadam-native.napi.glibc.node");
      if (!fs.existsSync(file)) continue;
      const { versions, problems } = checkFile(file);
      expect([arch, problems]).toEqual([arch, []]);
      expect(versions.some((v) => v.startsWith("GLIBC_"))).toBe(true);
    }
  });

  test("the tfjs subpath loads, in CommonJS and ESM", () => {
    const script = (load: string) => `${load}; console.log(typeof t.MicroAdamOptimizer)`;
    expect(node(["-e", script("const t = require('microadam-native/tfjs')")], user).trim()).toBe("function");
    expect(node(["--input-type=module", "-e", script("import * as t from 'microadam-native/tfjs'")], user).trim()).toBe("function");
  });

  test.each([
    ["node10", { module: "commonjs", moduleResolution: "node10" }],
    ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
    ["bundler", { module: "esnext", moduleResolution: "bundler" }],
  ])("TypeScript finds the types of both entry points under %s resolution", (name, options) => {
    const dir = path.join(user, `ts-${name}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, name === "nodenext" ? "use.mts" : "use.ts"), TS_USER);
    // skipLibCheck as most projects set it (tfjs's own .d.ts do not pass strict checks); module
    // resolution and every use in TS_USER are still checked.
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { ...options, target: "es2022", strict: true, noEmit: true, skipLibCheck: true, types: ["node"] }, include: ["*.ts", "*.mts"] }),
    );
    const tsc = path.join(user, "node_modules", "typescript", "bin", "tsc");
    try {
      node([tsc, "-p", dir], user);
    } catch (e) {
      throw new Error(`tsc (${name}) failed:\n${(e as { stdout?: string }).stdout ?? ""}`);
    }
  });
});

// Two ranks sum their rank + 1 over the installed package's distributed addon; a MicroAdam step with
// the default denseBelow (a bias on AdamW) runs beside it.
const DISTRIBUTED_USER = `
  const { ProcessGroup } = require("microadam-native/distributed");
  const { MicroAdam } = require("microadam-native");
  (async () => {
    const group = ProcessGroup.init();
    const sum = await group.allReduce(Int32Array.of(group.rank + 1), "sum");
    const opt = new MicroAdam([new Float32Array(5000), new Float32Array(10)], { lr: 0.1 });
    opt.step([new Float32Array(5000).fill(1), new Float32Array(10).fill(1)]);
    console.log(JSON.stringify({ rank: group.rank, size: group.size, sum: sum[0], dense: opt.denseTensorCount }));
    group.finalize();
  })().catch((e) => { console.error(e); process.exitCode = 1; });
`;

// ShardedMicroAdam over ProcessGroup.single() (no MPI, no distributed addon) and what NCCL is here.
const SINGLE_USER = `
  const { ProcessGroup, ShardedMicroAdam, ncclInfo } = require("microadam-native/distributed");
  (async () => {
    const group = ProcessGroup.single();
    const opt = await ShardedMicroAdam.create([new Float32Array(5000)], { lr: 0.1 }, group);
    const step = await opt.step([new Float32Array(5000).fill(1)]);
    console.log(JSON.stringify({ rank: group.rank, size: group.size, step, nccl: ncclInfo() }));
  })().catch((e) => { console.error(e); process.exitCode = 1; });
`;

test("the distributed addon builds inside the installed package (npx microadam-native-build-distributed) and runs under mpirun", async () => {
  if (!hasCommand("mpicxx") || !hasCommand("mpirun")) {
    console.warn("SKIPPED: no MPI here (mpicxx, mpirun), so the installed package's distributed addon was not built");
    return;
  }
  const project = emptyProject(path.join(work, "distributed"));
  npm(["install", "--ignore-scripts", tarball], project);
  const installed = path.join(project, "node_modules", "microadam-native");
  expect(() => node(["-e", "require('microadam-native/distributed').ProcessGroup.init()"], project)).toThrow(/ERR_MICROADAM_DISTRIBUTED_UNAVAILABLE|distributed addon is not built/);
  // Before it is built: a group of one needs no MPI, and the prebuild can look for NCCL (it carries CUDA).
  const alone = JSON.parse(node(["-e", SINGLE_USER], project).trim());
  expect(alone).toMatchObject({ rank: 0, size: 1, step: { step: 1, skipped: false }, nccl: { compiled: true, path: "libnccl.so.2" } });
  if (!alone.nccl.available) expect(alone.nccl.error).toMatch(/NCCL could not be loaded \(libnccl\.so\.2/);
  execFileSync("npx", ["--no-install", "microadam-native-build-distributed"], { cwd: project, ...quiet });
  expect(fs.existsSync(path.join(installed, "build", "distributed", "microadam_distributed.node"))).toBe(true);
  // The main addon still comes from the prebuild: nothing was built where node-gyp-build looks.
  expect(node(["-p", `require('node-gyp-build').resolve(${JSON.stringify(installed)})`], project).trim()).toBe(
    path.join(installed, "prebuilds", "linux-x64", "microadam-native.napi.glibc.node"),
  );
  const script = path.join(project, "ranks.js");
  fs.writeFileSync(script, DISTRIBUTED_USER);
  const { mpirun, expectSuccess } = await import("./distributed/mpi");
  const run = await mpirun(2, script, [], { timeoutMs: 120_000 });
  expectSuccess(run);
  const ranks = run.stdout.trim().split("\n").map((line) => JSON.parse(line)).sort((a, b) => a.rank - b.rank);
  expect(ranks).toEqual([
    { rank: 0, size: 2, sum: 3, dense: 1 },
    { rank: 1, size: 2, sum: 3, dense: 1 },
  ]);
}, 600_000);

test("a forced source build, with install scripts approved, builds from the shipped sources" + (nvccHere ? " with CUDA" : ""), () => {
  const project = emptyProject(path.join(work, "from-source"));
  npm(["install", "--ignore-scripts", tarball], project);
  npm(["install-scripts", "approve", "microadam-native"], project);
  // One CUDA architecture keeps this test's build short; users get the default list.
  const env = { ...process.env, MICROADAM_NATIVE_FORCE_BUILD: "1", MICROADAM_CUDA_ARCHITECTURES: "80-real" };
  npm(["rebuild", "microadam-native"], project, env);
  const installed = path.join(project, "node_modules", "microadam-native");
  const built = path.join(installed, "build", "Release", "microadam_native.node");
  expect(fs.existsSync(built)).toBe(true);
  expect(node(["-p", `require('node-gyp-build').resolve(${JSON.stringify(installed)})`], project).trim()).toBe(built);
  const out = JSON.parse(node(["-e", `const m = require('microadam-native'); ${SMOKE}`], project));
  expect(out).toEqual({ step: 1, changed: true, cuda: nvccHere });
  if (!nvccHere) console.warn("SKIPPED: no nvcc here, so the source build's CUDA engine was not checked");
}, 1_200_000);
