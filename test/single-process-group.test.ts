// ProcessGroup.single(): a data-parallel script as one process without MPI (lib/distributed/
// single-process.ts). ShardedMicroAdam over it must give MicroAdam's bits (as MPI's world size 1
// does: test/distributed.test.ts), skip a non-finite step, and save and load its sharded
// checkpoint; the distributed addon is never loaded.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MicroAdam } from "../lib";
import { ProcessGroup, ShardedMicroAdam } from "../lib/distributed";
import { seeded } from "./support/seeded";

const options = { lr: 1e-3, topkBlockSize: 256, quantBlockSize: 64, window: 3, denseBelow: 300 };
const sizes = [1000, 256 * 5 + 7, 100];

function tensors(next: () => number): Float32Array[] {
  return sizes.map((n) => Float32Array.from({ length: n }, next));
}

const bytes = (arrays: Float32Array[]): Buffer => Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));

test("a group of one without MPI: rank 0 of 1, where the distributed addon is missing", () => {
  const root = path.join(__dirname, "..");
  const code = `const { ProcessGroup } = require(${JSON.stringify(path.join(root, "dist", "distributed"))});
    const g = ProcessGroup.single();
    let init; try { ProcessGroup.init(); } catch (e) { init = e.code; }
    console.log(JSON.stringify({ rank: g.rank, size: g.size, library: g.library, init }));`;
  const output = execFileSync(process.execPath, ["-e", code], {
    encoding: "utf8",
    env: { ...process.env, MICROADAM_DISTRIBUTED_ADDON: path.join(os.tmpdir(), "no-such-addon.node") },
  });
  const r = JSON.parse(output.trim());
  expect(r).toMatchObject({ rank: 0, size: 1, init: "ERR_MICROADAM_DISTRIBUTED_UNAVAILABLE" });
  expect(r.library).toMatch(/single process/);
});

test("ShardedMicroAdam over it equals MicroAdam bit for bit, skips a NaN step, and resumes from its checkpoint", async () => {
  const group = ProcessGroup.single();
  const next = seeded(11);
  const start = tensors(() => next() * 2 - 1);
  const shardedParams = start.map((t) => t.slice());
  const plainParams = start.map((t) => t.slice());
  const sharded = await ShardedMicroAdam.create(shardedParams, options, group);
  const plain = new MicroAdam(plainParams, options);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-single-"));
  try {
    const results = [];
    const gradsByStep: Float32Array[][] = [];
    let paramsAtSave: Float32Array[] = [];
    for (let step = 0; step < 6; step++) {
      const grads = tensors(() => next() * 2 - 1);
      if (step === 2) grads[1][5] = Number.NaN;
      gradsByStep.push(grads);
      results.push(await sharded.step(grads));
      plain.step(grads);
      expect(bytes(shardedParams)).toEqual(bytes(plainParams));
      if (step === 3) {
        await sharded.save(dir);
        paramsAtSave = shardedParams.map((t) => t.slice());
      }
    }
    expect(results.map((r) => r.skipped)).toEqual([false, false, true, false, false, false]);
    expect(sharded.stateBytes).toBe(plain.stateBytes);

    // Resume from the checkpoint of step 3 and replay steps 4 and 5: the bits of the run that went on.
    const resumed = await ShardedMicroAdam.create(paramsAtSave, options, group);
    await resumed.load(dir);
    expect(resumed.stepCount).toBe(3);
    for (const grads of gradsByStep.slice(4)) await resumed.step(grads);
    expect(bytes(paramsAtSave)).toEqual(bytes(shardedParams));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("dispose() during a step frees the state once the step has settled, and later steps are refused", async () => {
  const params = [new Float32Array(2000).fill(1)];
  const opt = await ShardedMicroAdam.create(params, options, ProcessGroup.single());
  const local = opt.localOptimizer!;
  const inFlight = opt.step([new Float32Array(2000).fill(0.5)]);
  opt.dispose();
  expect(local.states[0].disposed).toBe(false); // the step's collectives may still read its buffers
  await expect(inFlight).resolves.toEqual({ step: 1, skipped: false });
  expect(params[0].some((v) => v !== 1)).toBe(true);
  expect(local.states[0].disposed).toBe(true);
  await expect(opt.step([new Float32Array(2000)])).rejects.toThrow(/disposed/);
  opt.dispose(); // again: nothing more to free
});

test("bf16 params over it equal MicroAdam's; a malformed half param is refused by name", async () => {
  const group = ProcessGroup.single();
  const next = seeded(3);
  const bits = Uint16Array.from({ length: 1500 }, () => 0x3f80 + Math.floor(next() * 64)); // bf16 near 1
  const sharded = { data: bits.slice(), dtype: "bf16" as const };
  const plain = { data: bits.slice(), dtype: "bf16" as const };
  const lr = { ...options, lr: 0.05 }; // bf16 near 1 moves in steps of 2^-7
  const opt = await ShardedMicroAdam.create([sharded], lr, group);
  const reference = new MicroAdam([plain], lr);
  for (let step = 0; step < 3; step++) {
    const grads = [Float32Array.from({ length: 1500 }, () => next() - 0.5)];
    await opt.step(grads);
    reference.step(grads);
  }
  expect(Buffer.from(sharded.data.buffer)).toEqual(Buffer.from(plain.data.buffer));
  expect(Buffer.from(sharded.data.buffer)).not.toEqual(Buffer.from(bits.buffer));
  await expect(ShardedMicroAdam.create([{ data: new Float32Array(10), dtype: "bf16" } as never], options, group)).rejects.toThrow(
    /Expected params\[0\]\.data to be a Uint16Array|Uint16Array .*params\[0\]\.data/,
  );
  await expect(ShardedMicroAdam.create([{ data: new Uint16Array(10), dtype: "f8" } as never], options, group)).rejects.toThrow(/params\[0\]\.dtype/);
});

test("its collectives check what they are given", async () => {
  const group = ProcessGroup.single();
  await expect(group.broadcast(Uint8Array.of(1), 1)).rejects.toThrow(/root/);
  expect(Array.from(await group.allReduce(Int32Array.of(3, 4), "sum"))).toEqual([3, 4]);
  expect((await group.allGather(Float64Array.of(1, 2))).map((a) => Array.from(a))).toEqual([[1, 2]]);
  await expect(group.barrier()).resolves.toBeUndefined();
});
