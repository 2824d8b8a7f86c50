// The package's entry points and build tooling, fast: CommonJS and ESM entry points, the build's
// CUDA status, the prebuild checks (glibc floor, bit digests) and the published manifest.
// test/consumer.test.ts (slow) packs the tarball and installs it into empty projects.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as api from "../lib";

// The build scripts are plain CommonJS (they run before any TypeScript is built).
/* eslint-disable @typescript-eslint/no-require-imports */
const buildDriver = require("../scripts/build-native") as { parseArgs(argv: string[]): Record<string, unknown> };
const floor = require("../scripts/check-glibc-floor") as {
  neededVersions(readelfOutput: string): string[];
  floorViolations(versions: string[]): string[];
  checkFile(file: string): { versions: string[]; problems: string[] };
};
/* eslint-enable @typescript-eslint/no-require-imports */

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

test("the built engine prints the digests that the prebuilds are checked against, on every CPU kernel", () => {
  const script = path.join(root, "scripts", "check-prebuild.js");
  const expected = path.join(root, "test", "fixtures", "prebuild-digests.json");
  for (const cpuPath of ["avx512", "avx2", "baseline"]) {
    const env = { ...process.env, MICROADAM_CPU_PATH: cpuPath };
    const kernel = execFileSync(process.execPath, ["-p", "require('./dist').backends().cpu.kernel"], { cwd: root, env, encoding: "utf8" }).trim();
    if (kernel !== cpuPath) {
      console.warn(`SKIPPED: the ${cpuPath} kernel's digests were not checked: this CPU cannot run it (backends().cpu.kernel is '${kernel}')`);
      continue;
    }
    const out = execFileSync(process.execPath, [script, "--expect", expected], { cwd: root, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const report = JSON.parse(out);
    expect([cpuPath, report.cpuKernel, Object.keys(report.results).length]).toEqual([cpuPath, cpuPath, 10]);
  }
  // The comparison can fail: one changed digest is named.
  const changed = JSON.parse(fs.readFileSync(expected, "utf8"));
  changed["adamw/f32/threads-1"] = "0".repeat(64);
  const wrong = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "digests-")), "d.json");
  fs.writeFileSync(wrong, JSON.stringify(changed));
  expect(() => execFileSync(process.execPath, [script, "--expect", wrong], { cwd: root, stdio: "pipe" })).toThrow(/adamw\/f32\/threads-1/);
});

test("the glibc floor check reads symbol versions and names what breaks the floor", () => {
  const readelf = `Version symbols section ...\nVersion needs section '.gnu.version_r' contains 2 entries:
  000000: Version: 1  File: libc.so.6  Cnt: 3
  0x0010:   Name: GLIBC_2.2.5  Flags: none  Version: 2
  0x0020:   Name: GLIBC_2.34  Flags: none  Version: 3
  0x0030:   Name: GLIBCXX_3.4.30  Flags: none  Version: 4
  0x0040:   Name: GCC_12.0.0  Flags: none  Version: 5`;
  const versions = floor.neededVersions(readelf);
  expect(versions).toEqual(["GLIBC_2.2.5", "GLIBC_2.34", "GLIBCXX_3.4.30", "GCC_12.0.0"]);
  const problems = floor.floorViolations(versions);
  expect(problems).toHaveLength(3);
  expect(problems.join("\n")).toMatch(/GLIBC_2.34 is newer than the glibc floor 2.28/);
  expect(floor.floorViolations(["GLIBC_2.28", "GLIBC_2.17", "GCC_4.2.0"])).toEqual([]);
  // The development build links the machine's libstdc++ and glibc 2.34 symbols: the check says so.
  const devBuild = path.join(root, "build", "Release", "microadam_native.node");
  if (fs.existsSync(devBuild)) expect(floor.checkFile(devBuild).problems.length).toBeGreaterThan(0);
  else console.warn("SKIPPED: no build/Release/microadam_native.node to read");
});

test("pack-manifest strips the development scripts, makes README links absolute, and puts both back, also after a dead pack", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifest-"));
  fs.mkdirSync(path.join(dir, "scripts"));
  fs.copyFileSync(path.join(root, "scripts", "pack-manifest.js"), path.join(dir, "scripts", "pack-manifest.js"));
  const original = fs.readFileSync(path.join(root, "package.json"), "utf8");
  fs.writeFileSync(path.join(dir, "package.json"), original);
  const readme = "See [the CUDA notes](docs/cuda.md#setup), [LICENSE](LICENSE) and [the site](https://example.com/docs/x.md).\n";
  fs.writeFileSync(path.join(dir, "README.md"), readme);
  const run = (cmd: string) => execFileSync(process.execPath, [path.join(dir, "scripts", "pack-manifest.js"), cmd], { stdio: "pipe" });
  run("strip");
  const published = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  expect(Object.keys(published.scripts)).toEqual(["install"]);
  expect(published.devDependencies).toBeUndefined();
  const version = JSON.parse(original).version;
  expect(fs.readFileSync(path.join(dir, "README.md"), "utf8")).toBe(
    `See [the CUDA notes](https://unpkg.com/microadam-native@${version}/docs/cuda.md#setup), ` +
      `[LICENSE](https://unpkg.com/microadam-native@${version}/LICENSE) and [the site](https://example.com/docs/x.md).\n`,
  );
  run("strip"); // a second strip (a pack that died before postpack) starts from the original
  expect(fs.readFileSync(path.join(dir, ".pack-originals", "package.json"), "utf8")).toBe(original);
  run("restore");
  expect(fs.readFileSync(path.join(dir, "package.json"), "utf8")).toBe(original);
  expect(fs.readFileSync(path.join(dir, "README.md"), "utf8")).toBe(readme);
  expect(fs.existsSync(path.join(dir, ".pack-originals"))).toBe(false);
  expect(() => run("publish")).toThrow();
});

test("the build driver refuses bad arguments by name", () => {
  expect(buildDriver.parseArgs(["--out", "x", "--cuda", "off", "--portable"])).toEqual(
    expect.objectContaining({ out: "x", cuda: "off", portable: true }),
  );
  expect(() => buildDriver.parseArgs(["--cuda", "maybe"])).toThrow("--cuda must be auto, on or off, got 'maybe'");
  expect(() => buildDriver.parseArgs(["--arch", "riscv64"])).toThrow("--arch must be x64 or arm64, got 'riscv64'");
  expect(() => buildDriver.parseArgs(["--jobs", "0"])).toThrow("--jobs must be a positive integer, got '0'");
  expect(() => buildDriver.parseArgs(["--out"])).toThrow("--out needs a value");
  expect(() => buildDriver.parseArgs(["--fast"])).toThrow("unknown argument '--fast'");
});
