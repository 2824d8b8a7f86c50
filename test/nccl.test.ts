// NCCL, the GPU collectives of microadam-native/distributed (docs/distributed.md, "GPUs: NCCL"):
// the main addon opens libnccl.so.2 at run time, so here (no NCCL, no GPU) it must say what is
// missing; a stand-in library (test/native/fake_nccl.c) checks the loader itself: the version, a
// library that is too old or not NCCL, the id bytes. ShardedMicroAdam's device 'cuda' argument
// checks run everywhere; its world-size-1 run on a GPU, bit for bit against MicroAdam on CUDA and
// the CPU's sharded optimizer, runs where a CUDA device and NCCL are usable, and prints SKIPPED
// otherwise.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { backends } from "../lib";
import { root } from "./distributed/mpi";

const compiled = backends().cuda.compiled;
const work = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-nccl-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** test/native/fake_nccl.c built with `defines`, as a shared library. */
function fakeNccl(name: string, defines: string[]): string {
  const file = path.join(work, `${name}.so`);
  execFileSync("gcc", ["-shared", "-fPIC", "-O1", ...defines.map((d) => `-D${d}`), path.join(root, "test", "native", "fake_nccl.c"), "-o", file]);
  return file;
}

/** Runs `code` in a fresh Node (NCCL is opened once per process) with MICROADAM_NCCL_LIBRARY = library; returns its JSON line. */
function inProcess(code: string, library?: string): Record<string, unknown> {
  const env = { ...process.env };
  if (library === undefined) delete env.MICROADAM_NCCL_LIBRARY;
  else env.MICROADAM_NCCL_LIBRARY = library;
  const prelude = `const b = require(${JSON.stringify(path.join(root, "dist"))}); const d = require(${JSON.stringify(path.join(root, "dist", "distributed"))}); const native = require(${JSON.stringify(path.join(root, "dist", "binding"))}).binding;`;
  const output = execFileSync(process.execPath, ["-e", `${prelude}\n(async () => { ${code} })().catch((e) => console.log(JSON.stringify({ crashed: String(e.stack) })));`], { env, encoding: "utf8" });
  return JSON.parse(output.trim().split("\n").pop() ?? "{}");
}

const describeCompiled = compiled ? describe : describe.skip;
if (!compiled) console.log("SKIPPED: NCCL loader tests: this build has no CUDA backend (NCCL is opened by the CUDA backend only)");

describeCompiled("the NCCL loader", () => {
  test("without NCCL, ncclInfo and a communicator say what to install", () => {
    const r = inProcess(
      `const info = d.ncclInfo();
       let joined; try { native.requireCollectives(0); } catch (e) { joined = e.code + " " + e.message; }
       console.log(JSON.stringify({ info, joined }));`,
      path.join(work, "no-such-libnccl.so.2"),
    );
    const info = r.info as Record<string, unknown>;
    expect(info).toMatchObject({ compiled: true, available: false, path: path.join(work, "no-such-libnccl.so.2") });
    expect(info.error).toMatch(/NCCL could not be loaded \(.*no-such-libnccl\.so\.2: cannot open shared object file/);
    expect(info.error).toMatch(/LD_LIBRARY_PATH, or set MICROADAM_NCCL_LIBRARY/);
    expect(r.joined).toMatch(/^ERR_MICROADAM_DISTRIBUTED NCCL could not be loaded/);
  });

  test("the default name is libnccl.so.2, looked up by the loader", () => {
    const r = inProcess(`console.log(JSON.stringify(d.ncclInfo()));`);
    expect(r.path).toBe("libnccl.so.2");
    if (r.available) console.log(`NCCL is installed here: ${JSON.stringify(r)}`);
    else expect(r.error).toMatch(/libnccl\.so\.2/);
  });

  test("a library of NCCL 2.19.3: its version, and rank 0's id bytes; a communicator then needs a GPU", () => {
    const r = inProcess(
      `const info = d.ncclInfo();
       const id = Array.from(native.newCommunicatorId());
       let device; try { native.requireCollectives(0); device = "usable"; } catch (e) { device = e.code + " " + e.message; }
       console.log(JSON.stringify({ info, id, device, cudaUsable: b.backends().cuda.usable }));`,
      fakeNccl("nccl-2.19.3", ["FAKE_NCCL_VERSION=21903"]),
    );
    expect(r.info).toMatchObject({ compiled: true, available: true, version: "2.19.3" });
    expect(r.id).toEqual(Array.from({ length: 128 }, (_, i) => i));
    if (!r.cudaUsable) expect(r.device).toMatch(/^ERR_MICROADAM_DEVICE an NCCL communicator needs a usable CUDA device/);
  });

  test("an NCCL older than 2.7 (no ncclSend), or a library that lacks a name, is refused with the reason", () => {
    const old = inProcess(`console.log(JSON.stringify(d.ncclInfo()));`, fakeNccl("nccl-2.6.3", ["FAKE_NCCL_VERSION=2603"]));
    expect(old).toMatchObject({ available: false });
    expect(old.error).toMatch(/it is NCCL 2\.6\.3; microadam-native needs 2\.7\.0 or newer/);
    const lacking = inProcess(`console.log(JSON.stringify(d.ncclInfo()));`, fakeNccl("nccl-no-send", ["FAKE_NCCL_WITHOUT_SEND"]));
    expect(lacking.error).toMatch(/cannot be used: it has no ncclSend/);
  });

  test("version codes: 2.8 and older, and later", () => {
    const r = inProcess(`console.log(JSON.stringify(["2804", "20906", "22703"].map((c) => require(${JSON.stringify(path.join(root, "dist", "distributed", "nccl"))}).versionString(Number(c)))));`) as unknown as string[];
    expect(r).toEqual(["2.8.4", "2.9.6", "2.27.3"]);
  });
});

describe("ShardedMicroAdam on device 'cuda'", () => {
  let worker: Record<string, unknown>;
  beforeAll(() => {
    const output = execFileSync(process.execPath, [path.join(root, "test", "distributed", "nccl-worker.js")], { encoding: "utf8", timeout: 120_000 });
    worker = JSON.parse(output.trim().split("\n").pop() ?? "{}");
  });

  test("bad arguments are refused by name before anything is allocated", () => {
    expect(worker.crashed).toBeUndefined();
    expect(worker.size).toBe(1);
    expect(worker.hostParams).toMatch(/^TypeError ERR_INVALID_ARG_TYPE Expected a float32 device tensor .* for params\[0\] but received Float32Array/);
    expect(worker.denseBelow).toMatch(/^RangeError ERR_OUT_OF_RANGE Expected 0 for device 'cuda' .* for options\.denseBelow but received 4096/);
    expect(worker.bf16).toMatch(/^TypeError ERR_INVALID_ARG_TYPE Expected 'f32' .* for params\[0\]\.dtype but received "bf16"/);
    expect(worker.badDevice).toMatch(/options\.device/);
  });

  test("world size 1 on a GPU: bit-identical to MicroAdam on CUDA and to the CPU's ShardedMicroAdam", () => {
    if (!worker.cudaUsable || !worker.ncclAvailable) {
      console.log(
        `SKIPPED: NCCL world-size-1 run: ${!worker.cudaUsable ? "no usable CUDA device" : "NCCL not found (set MICROADAM_NCCL_LIBRARY)"}; ` +
          "checked instead that a CUDA optimizer says what is missing",
      );
      expect(worker.noDevice).toMatch(/ERR_MICROADAM_DEVICE .*needs a usable CUDA device/);
      return;
    }
    const gpu = worker.gpu as Record<string, unknown>;
    expect(gpu.results).toEqual([1, 2, 3, 3, 4, 5].map((step, i) => ({ step, skipped: i === 3 })));
    expect(gpu).toMatchObject({ equalToMicroAdam: true, equalToCpuSharded: true, reducedEqual: true, changed: true });
  });
});
