// The package as users get it: CommonJS and ESM entry points, the build's CUDA status, and an
// `npm pack` tarball that installs into an empty project with --ignore-scripts and works there.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as api from "../lib";

const root = path.join(__dirname, "..");

function node(args: string[], cwd: string): string {
  return execFileSync(process.execPath, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

const SMOKE = `
  const n = 1000, p = new Float32Array(n).fill(1), g = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const s = m.createMicroAdamState({ numel: n });
  const r = m.microAdamStep(s, p, g, { lr: 0.1 });
  console.log(JSON.stringify({ step: r.step, changed: p.some((v) => v !== 1), bytes: s.stateBytes }));
`;

test("the ESM entry exports exactly what the CommonJS entry exports", () => {
  const esm = JSON.parse(
    node(["--input-type=module", "-e", "import * as m from 'microadam-native'; console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort()))"], root),
  );
  const cjs = JSON.parse(node(["-e", "console.log(JSON.stringify(Object.keys(require('microadam-native')).sort()))"], root));
  expect(esm).toEqual(cjs);
  expect(cjs).toEqual(Object.keys(api).sort());
  const out = node(["--input-type=module", "-e", `import * as m from 'microadam-native'; ${SMOKE}`], root);
  expect(JSON.parse(out)).toEqual({ step: 1, changed: true, bytes: 500 + 4 * 16 + 4 * 10 * 10 });
});

test("backends() reports the CPU engine and whether CUDA was compiled in", () => {
  const b = api.backends();
  expect(b.cpu.usable).toBe(true);
  expect(b.cpu.threads).toBeGreaterThanOrEqual(1);
  const nvccHere = fs.existsSync("/usr/local/cuda/bin/nvcc");
  if (process.env.MICROADAM_REQUIRE_CUDA_BUILD || nvccHere) {
    // nvcc is on this machine, so the CUDA sources must have been compiled and linked.
    expect(b.cuda.compiled).toBe(true);
  }
  if (b.cuda.compiled && !b.cuda.usable) {
    console.warn(`CUDA compiled in but not usable here: ${b.cuda.error}`);
    expect(b.cuda.error).toMatch(/\S/);
  }
});

test("npm pack output installs with --ignore-scripts into an empty project and works there", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-pack-"));
  try {
    // Pack from a copy: prebuildify builds in build/, which must not disturb this checkout.
    const source = path.join(work, "source");
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
    fs.mkdirSync(source);
    for (const entry of [...pkg.files, "package.json", "tsconfig.json", "tsconfig.build.json", "lib", "scripts"]) {
      const from = path.join(root, entry.replace(/\/$/, ""));
      if (fs.existsSync(from) && !entry.startsWith("dist") && !entry.startsWith("prebuilds"))
        fs.cpSync(from, path.join(source, entry.replace(/\/$/, "")), { recursive: true });
    }
    fs.symlinkSync(path.join(root, "node_modules"), path.join(source, "node_modules"));
    execFileSync("npm", ["pack", "--pack-destination", work], { cwd: source, stdio: "pipe" });
    const tarball = fs.readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();
    const listing = execFileSync("tar", ["-tzf", path.join(work, tarball!)], { encoding: "utf8" });
    expect(listing).toContain(`package/prebuilds/${process.platform}-${process.arch}/microadam-native.node`);
    expect(listing).toContain("package/dist/index.mjs");
    expect(listing).toContain("package/dist/index.d.ts");

    const user = path.join(work, "user");
    fs.mkdirSync(user);
    fs.writeFileSync(path.join(user, "package.json"), JSON.stringify({ name: "user", version: "1.0.0", private: true }));
    execFileSync("npm", ["install", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund", path.join(work, tarball!)], {
      cwd: user,
      stdio: "pipe",
    });
    const installed = path.join(user, "node_modules", "microadam-native");
    expect(fs.existsSync(path.join(installed, "build"))).toBe(false); // nothing was compiled
    const cjs = node(["-e", `const m = require('microadam-native'); ${SMOKE}`], user);
    expect(JSON.parse(cjs)).toEqual(expect.objectContaining({ step: 1, changed: true }));
    const esm = node(["--input-type=module", "-e", `import * as m from 'microadam-native'; ${SMOKE}`], user);
    expect(JSON.parse(esm)).toEqual(expect.objectContaining({ step: 1, changed: true }));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}, 300_000);
