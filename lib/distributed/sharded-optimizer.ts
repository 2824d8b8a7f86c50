// ShardedMicroAdam: ZeRO-1 data parallelism (docs/distributed.md). Every rank holds the full
// params and computes gradients on its own data; a step
//   1. reduce-scatters the gradients: each rank receives every rank's gradient for its own
//      range and sums them in rank order in float32 (then ÷ world size for 'mean'),
//   2. agrees on non-finite gradients (all ranks skip, or all throw, together),
//   3. steps the MicroAdam state of its own range (pieces cut at block boundaries: partition.ts;
//      a piece of a tensor under denseBelow has an AdamW state, as the whole tensor would),
//   4. all-gathers the params, so every rank holds the same bits again.
// Steps 3's result equals a single-process MicroAdam on the same reduced gradient, bit for bit.
// With device 'cuda' the params, gradients and states are on the GPU and the collectives run over
// NCCL (device-shards.ts); the steps and the sum's order are the same.
import { checkHyper, HYPER_FIELDS, NON_FINITE_POLICIES, type ResolvedHyper } from "../hyper";
import type { AdamWSnapshot } from "../adamw";
import { DEFAULT_DENSE_BELOW, microAdamWithKinds, type MicroAdam, type MicroAdamOptions, type ParamGroup } from "../optimizer";
import { STATE_DEFAULTS, resolveStateConfig } from "../state";
import type { DeviceTensor, Dtype, HalfTensor, MicroAdamSnapshot, NonFinitePolicy, StepResult } from "../types";
import { rangeError, rejectUnknownKeys, requireInteger, requireNumberIn, requireObject, requireOneOf, typeError, withCode } from "../validate";
import { DeviceShards, deviceRef, type DeviceRef } from "./device-shards";
import { normalizeGroups, type ShardedTensor } from "./sharded-params";
import { partition, stateBytesOf, type Partition, type Piece } from "./partition";
import type { ProcessGroup } from "./process-group";
import { ProcessGroup as ProcessGroupClass } from "./process-group";
import { loadSharded, saveSharded } from "./sharded-checkpoint";

/** A group of float32 tensors sharing hyperparameters (MicroAdam's ParamGroup, float32 only). */
export interface ShardedParamGroup extends Omit<ParamGroup, "params"> {
  params: ShardedTensor[];
}

/** MicroAdam's options, plus how the ranks' gradients combine. */
export interface ShardedMicroAdamOptions extends Omit<MicroAdamOptions, "device" | "deviceIndex"> {
  /**
   * Where params, gradients and states live: 'cpu' (default; Float32Arrays, collectives over MPI)
   * or 'cuda' (float32 device tensors, CUDA states, collectives over NCCL, opened at run time:
   * docs/distributed.md). CUDA states take denseBelow 0 only, as in MicroAdam.
   */
  device?: "cpu" | "cuda";
  /** The CUDA device of this rank (device 'cuda'). Default 0. */
  deviceIndex?: number;
  /**
   * Seconds an NCCL collective (or joining) may take before it fails with
   * ERR_MICROADAM_DISTRIBUTED_TIMEOUT (device 'cuda'; the MPI collectives take the process
   * group's timeout). Default 300.
   */
  timeoutSeconds?: number;
  /**
   * How the ranks' gradients combine: 'mean' (default: the rank-order float32 sum ÷ world size)
   * or 'sum' (the rank-order sum), for gradients that are already scaled by the global batch.
   */
  reduce?: "mean" | "sum";
  /**
   * Elements of each rank's range exchanged per round of the reduce-scatter; its buffers are
   * 2 × world size × this many floats. Default: 2^22 / world size (32 MiB of buffers in all).
   */
  reduceChunkElements?: number;
}

export interface ShardedGroup extends ResolvedHyper {
  params: ShardedTensor[];
}

export interface ShardedLayout {
  window: number;
  density: number;
  topkBlockSize: number;
  quantBlockSize: number;
}

const LAYOUT_KEYS = ["window", "density", "topkBlockSize", "quantBlockSize"] as const;
const OPTION_KEYS = [...HYPER_FIELDS, ...LAYOUT_KEYS, "denseBelow", "nonFinite", "reduce", "reduceChunkElements", "device", "deviceIndex", "timeoutSeconds"] as const;

function distributedError(message: string, code = "ERR_MICROADAM_DISTRIBUTED"): Error {
  return withCode(new Error(`microadam-native/distributed: ${message}`), code);
}

/** FNV-1a over a string, as two 32-bit halves (seeds differ), for comparing descriptions between ranks. */
function fingerprint(text: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 13);
  }
  return [a | 0, b | 0];
}

export class ShardedMicroAdam {
  readonly group: ProcessGroup;
  readonly paramGroups: ShardedGroup[];
  readonly layout: Readonly<ShardedLayout>;
  /** Tensors with fewer elements have AdamW states (each piece of them), as in MicroAdam. */
  readonly denseBelow: number;
  /** What a non-finite reduced gradient does, decided for all ranks together. */
  nonFinite: NonFinitePolicy;
  readonly reduce: "mean" | "sum";
  /** Elements of each rank's range per round of the reduce-scatter. */
  readonly reduceChunkElements: number;
  /** Which ranges every rank steps. */
  readonly partition: Partition;
  /** Where params, gradients and states live. */
  readonly device: "cpu" | "cuda";
  /** Seconds an NCCL collective may take (device 'cuda'). */
  readonly timeoutSeconds: number;
  /** Elements of each tensor, in flattened group order, and the group of each. */
  private readonly lengths: number[];
  private readonly groupOf: number[];
  /** The params' memory (device 'cpu': Float32Arrays, and Uint16Arrays of bf16/f16 params; empty on 'cuda'), and each param's dtype. */
  private readonly tensors: (Float32Array | Uint16Array)[];
  private readonly dtypes: Dtype[];
  /** The device side (device 'cuda' only). */
  private readonly onDevice?: DeviceShards;
  /** The local MicroAdam over this rank's pieces (undefined when it has none), and its groups' outer index. */
  private readonly local?: MicroAdam;
  private readonly localGroupOuter: number[];
  /** This rank's reduced gradient (its pieces, tensor after tensor). */
  private readonly ownReduced: Float32Array;
  /** For tensor t and rank r: r's piece of t is [cutOffsets[t·size + r], + cutCounts[t·size + r]). */
  private readonly cutCounts: Int32Array;
  private readonly cutOffsets: Int32Array;
  private steps = 0;
  private busy = false;
  private disposedFlag = false;
  private released = false;

  private constructor(params: unknown, options: unknown, group: ProcessGroup) {
    if (!(group instanceof ProcessGroupClass)) throw typeError("group", "a ProcessGroup (ProcessGroup.init())", group);
    if (group.finalized) throw distributedError("the process group was finalized");
    this.group = group;
    const o = requireObject(options, "options");
    rejectUnknownKeys(o, "options", OPTION_KEYS);
    const defaults = checkHyper(o, "options");
    this.nonFinite = requireOneOf(o.nonFinite ?? "skip", "options.nonFinite", NON_FINITE_POLICIES);
    this.reduce = requireOneOf(o.reduce ?? "mean", "options.reduce", ["mean", "sum"] as const);
    this.reduceChunkElements = requireInteger(o.reduceChunkElements ?? Math.max(1, Math.floor(2 ** 22 / group.size)), "options.reduceChunkElements", 1, Math.floor((2 ** 31 - 1) / group.size));
    const config = resolveStateConfig(
      {
        numel: 1,
        window: o.window ?? STATE_DEFAULTS.window,
        density: o.density ?? STATE_DEFAULTS.density,
        topkBlockSize: o.topkBlockSize ?? STATE_DEFAULTS.topkBlockSize,
        quantBlockSize: o.quantBlockSize ?? STATE_DEFAULTS.quantBlockSize,
      },
      "options",
    );
    this.layout = Object.freeze({ window: config.window, density: config.density, topkBlockSize: config.topkBlockSize, quantBlockSize: config.quantBlockSize });
    this.device = requireOneOf(o.device ?? "cpu", "options.device", ["cpu", "cuda"] as const);
    const deviceIndex = requireInteger(o.deviceIndex ?? 0, "options.deviceIndex", 0, 65535);
    this.timeoutSeconds = requireNumberIn(o.timeoutSeconds ?? 300, "options.timeoutSeconds", 0, 1e6, { lowerOpen: true });
    if (this.device === "cuda" && o.denseBelow !== undefined && o.denseBelow !== 0)
      throw rangeError("options.denseBelow", "0 for device 'cuda' (the native AdamW runs on the CPU only)", o.denseBelow);
    this.denseBelow = this.device === "cuda" ? 0 : requireInteger(o.denseBelow ?? DEFAULT_DENSE_BELOW, "options.denseBelow", 0, Number.MAX_SAFE_INTEGER);
    const groups = normalizeGroups(params, this.device, deviceIndex);
    this.paramGroups = groups.map((g, i) => ({ ...checkHyper({ ...defaults, ...g.given }, `params[${i}]`), params: g.params }));
    this.lengths = [];
    this.groupOf = [];
    this.tensors = [];
    this.dtypes = [];
    const deviceParams: DeviceRef[] = [];
    groups.forEach((g, gi) =>
      g.refs.forEach((ref) => {
        this.groupOf.push(gi);
        if (ref instanceof Float32Array) {
          this.lengths.push(ref.length);
          this.tensors.push(ref);
          this.dtypes.push("f32");
        } else if ("data" in ref) {
          this.lengths.push(ref.data.length);
          this.tensors.push(ref.data);
          this.dtypes.push(ref.dtype);
        } else {
          this.lengths.push(ref.numel);
          deviceParams.push(ref);
          this.dtypes.push("f32");
        }
      }),
    );
    this.partition = partition(
      this.lengths,
      group.size,
      this.layout.topkBlockSize,
      this.layout.quantBlockSize,
    );
    const own = this.partition.pieces[group.rank];
    this.localGroupOuter = [];
    this.ownReduced = new Float32Array(this.device === "cpu" ? this.partition.counts[group.rank] : 0);
    this.cutCounts = new Int32Array(this.lengths.length * group.size);
    this.cutOffsets = new Int32Array(this.lengths.length * group.size);
    this.partition.pieces.forEach((pieces, r) =>
      pieces.forEach((p) => {
        if (p.end - p.begin > 2 ** 31 - 1 || p.begin > 2 ** 31 - 1)
          throw rangeError(`params (tensor ${p.tensor})`, "tensors of at most 2^31 - 1 elements (one MPI count)", this.lengths[p.tensor]);
        this.cutCounts[p.tensor * group.size + r] = p.end - p.begin;
        this.cutOffsets[p.tensor * group.size + r] = p.begin;
      }),
    );
    if (this.device === "cuda") this.onDevice = new DeviceShards(deviceIndex, deviceParams, own, this.cutCounts, this.cutOffsets);
    if (own.length > 0) {
      try {
        // One local group per outer group with pieces here, so per-group lr changes reach them.
        const localGroups: { params: (Float32Array | HalfTensor | DeviceTensor)[]; lr: number }[] = [];
        const pieceParams = this.onDevice?.pieceParams();
        own.forEach((piece, i) => {
          const outer = this.groupOf[piece.tensor];
          if (this.localGroupOuter[this.localGroupOuter.length - 1] !== outer) {
            this.localGroupOuter.push(outer);
            localGroups.push({ params: [], lr: 0 });
          }
          localGroups[localGroups.length - 1].params.push(pieceParams ? pieceParams[i] : this.hostPiece(piece));
        });
        // A piece's kind is its whole tensor's (a piece of a large tensor may be small).
        this.local = microAdamWithKinds(
          localGroups.map((g, i) => ({ ...this.hyperOf(this.localGroupOuter[i]), params: g.params })),
          { lr: defaults.lr, ...this.layout, nonFinite: "ignore", denseBelow: this.denseBelow, device: this.device, deviceIndex },
          (i) => this.isDenseTensor(own[i].tensor),
        );
      } catch (error) {
        this.onDevice?.dispose();
        throw error;
      }
    }
  }

  /**
   * A sharded optimizer over `params` (the same tensor list, sizes and options on every rank),
   * after checking with every rank that they agree: a difference is an error on every rank.
   */
  static async create(params: ShardedTensor[] | ShardedParamGroup[], options: ShardedMicroAdamOptions, group: ProcessGroup): Promise<ShardedMicroAdam> {
    const optimizer = new ShardedMicroAdam(params, options, group);
    try {
      await optimizer.checkAgreement();
      await optimizer.onDevice?.connect(group, optimizer.timeoutSeconds);
    } catch (error) {
      optimizer.dispose();
      throw error;
    }
    return optimizer;
  }

  /**
   * create() with the agreement check waited for on the JS thread (for synchronous hosts: the
   * tfjs optimizer builds its sharded optimizer inside its first applyGradients).
   */
  static createSync(params: ShardedTensor[] | ShardedParamGroup[], options: ShardedMicroAdamOptions, group: ProcessGroup): ShardedMicroAdam {
    const optimizer = new ShardedMicroAdam(params, options, group);
    try {
      if (optimizer.device === "cuda") throw rangeError("options.device", "'cpu' for createSync (a CUDA optimizer joins NCCL asynchronously: use create)", "cuda");
      const mine = optimizer.agreementKey();
      const low = group.native.allReduceSync(mine, "min");
      const high = group.native.allReduceSync(mine, "max");
      if (low.some((v, i) => v !== high[i]))
        throw distributedError(
          `the ranks disagree on the tensors or options (tensor counts from ${low[0]} to ${high[0]}). This rank (${group.rank}) has ${optimizer.describe()}`,
          "ERR_MICROADAM_DISTRIBUTED_MISMATCH",
        );
    } catch (error) {
      optimizer.dispose();
      throw error;
    }
    return optimizer;
  }

  /** Elements of each tensor, in flattened group order. */
  get tensorNumels(): readonly number[] {
    return this.lengths;
  }

  /** Elements across all tensors. */
  get numel(): number {
    return this.lengths.reduce((a, n) => a + n, 0);
  }

  /** Steps taken (skipped steps are not counted), the same on every rank. */
  get stepCount(): number {
    return this.steps;
  }

  /** This rank's pieces: [begin, end) ranges of tensors (flattened group order). */
  get pieces(): readonly Piece[] {
    return this.partition.pieces[this.group.rank];
  }

  /** Exact bytes of this rank's MicroAdam state. */
  get stateBytes(): number {
    return this.local?.stateBytes ?? 0;
  }

  /** State bytes of every rank (computed from the partition; no communication). */
  get stateBytesByRank(): number[] {
    return this.partition.pieces.map((pieces) => pieces.reduce((sum, p) => sum + this.pieceStateBytes(p.tensor, p.end - p.begin), 0));
  }

  /** State bytes of a single-process MicroAdam over the same tensors. */
  get totalStateBytes(): number {
    return this.lengths.reduce((sum, n, i) => sum + this.pieceStateBytes(i, n), 0);
  }

  /**
   * Bytes of the step's buffers on this rank, beside the state: the reduce's two round buffers
   * (native: 2 × world size × chunk floats, the chunk no longer than the longest range) and this
   * rank's reduced range.
   */
  get bufferBytes(): number {
    const chunk = Math.max(1, Math.min(this.reduceChunkElements, Math.max(...this.partition.counts)));
    if (this.onDevice) return this.onDevice.bufferBytes(this.group.size, chunk);
    return 4 * (2 * this.group.size * chunk + this.ownReduced.length);
  }

  /** The local optimizer over this rank's pieces (undefined when it has none). @internal for checkpoints and tests. */
  get localOptimizer(): MicroAdam | undefined {
    return this.local;
  }

  /**
   * @internal For tests: this rank's reduced gradient of the last step (its pieces, concatenated).
   * A last-bit difference here rarely reaches the params (Top-K values are stored in bf16, errors
   * in 4 bits), so the tests compare it directly.
   */
  get lastReducedGradient(): Float32Array {
    return this.onDevice ? this.onDevice.reducedCopy() : this.ownReduced.slice();
  }

  /** Snapshots of this rank's pieces' states, in the order of `pieces` (AdamW snapshots for tensors under denseBelow). */
  shardSnapshots(): (MicroAdamSnapshot | AdamWSnapshot)[] {
    return this.local ? this.local.states.map((s) => s.snapshot()) : [];
  }

  /** A piece's view of its host param, of the param's dtype. */
  private hostPiece(piece: Piece): Float32Array | HalfTensor {
    const data = this.tensors[piece.tensor].subarray(piece.begin, piece.end);
    const dtype = this.dtypes[piece.tensor];
    return dtype === "f32" ? (data as Float32Array) : { data: data as Uint16Array, dtype };
  }

  /** @internal Whether tensor t (flattened group order) has AdamW states: fewer than denseBelow elements. */
  isDenseTensor(t: number): boolean {
    return this.lengths[t] < this.denseBelow;
  }

  private pieceStateBytes(t: number, numel: number): number {
    return this.isDenseTensor(t) ? 8 * numel : stateBytesOf(numel, this.layout);
  }

  /**
   * One data-parallel step: `grads` are this rank's gradients, one Float32Array per tensor. Every
   * rank must call it (the same number of times, in the same order as other collectives). Resolves
   * on every rank with the same result; params are updated in place and are the same on every rank.
   */
  async step(grads: ShardedTensor[]): Promise<StepResult> {
    if (this.onDevice) return this.deviceStep(this.onDevice, grads);
    const { policy, hypers } = this.beginStep(grads);
    try {
      const native = this.group.native;
      // 1. Every rank's values of this rank's range, summed in rank order (no packing: MPI reads the grads).
      const nonFiniteHere = await native.reduceScatterInRankOrder(grads as Float32Array[], this.cutCounts, this.cutOffsets, this.ownReduced, this.reduce === "mean", this.reduceChunkElements);
      // 2. The non-finite decision is global: any rank's non-finite reduced gradient skips (or fails) every rank.
      const anyNonFinite = policy !== "ignore" && (await native.allReduce(Int32Array.of(nonFiniteHere ? 1 : 0), "max"))[0] !== 0;
      if (anyNonFinite) return this.nonFiniteResult(policy);
      this.localStep(hypers); // 3.
      // 4. Every rank's updated ranges to every rank, in place in the params.
      await native.allGatherInPlace(this.tensors, this.cutCounts, this.cutOffsets);
      return { step: ++this.steps, skipped: false };
    } finally {
      this.settle();
    }
  }

  /**
   * step() with the collectives waited for on the JS thread: for synchronous hosts (a tfjs
   * optimizer's applyGradients). It blocks the event loop for the whole step.
   */
  stepSync(grads: Float32Array[]): StepResult {
    if (this.onDevice) throw rangeError("stepSync", "a CPU optimizer (device 'cuda' steps with step())", "cuda");
    const { policy, hypers } = this.beginStep(grads);
    try {
      const native = this.group.native;
      const nonFiniteHere = native.reduceScatterInRankOrderSync(grads, this.cutCounts, this.cutOffsets, this.ownReduced, this.reduce === "mean", this.reduceChunkElements);
      const anyNonFinite = policy !== "ignore" && native.allReduceSync(Int32Array.of(nonFiniteHere ? 1 : 0), "max")[0] !== 0;
      if (anyNonFinite) return this.nonFiniteResult(policy);
      this.localStep(hypers);
      native.allGatherInPlaceSync(this.tensors, this.cutCounts, this.cutOffsets);
      return { step: ++this.steps, skipped: false };
    } finally {
      this.settle();
    }
  }

  /** step() on device 'cuda': the same four steps over NCCL, on the device. */
  private async deviceStep(onDevice: DeviceShards, grads: unknown): Promise<StepResult> {
    const refs = this.deviceGrads(grads, onDevice.deviceIndex);
    const { policy, hypers } = this.beginStep(undefined);
    try {
      const nonFiniteHere = await onDevice.reduceScatter(refs, this.reduce === "mean", this.reduceChunkElements);
      const anyNonFinite = policy !== "ignore" && (await this.group.native.allReduce(Int32Array.of(nonFiniteHere ? 1 : 0), "max"))[0] !== 0;
      if (anyNonFinite) return this.nonFiniteResult(policy);
      this.localStep(hypers);
      await onDevice.allGather();
      return { step: ++this.steps, skipped: false };
    } finally {
      this.settle();
    }
  }

  /** Checks everything a step needs before any collective (grads: host ones; device ones are checked by the caller), then marks the optimizer busy. */
  private beginStep(grads: unknown): { policy: NonFinitePolicy; hypers: ResolvedHyper[] } {
    if (this.disposedFlag) throw distributedError("the optimizer was disposed");
    if (this.busy) throw distributedError("a step or checkpoint of this optimizer is in flight; await it first", "ERR_MICROADAM_BUSY");
    if (!this.onDevice) this.checkGrads(grads);
    const policy = requireOneOf(this.nonFinite, "nonFinite", NON_FINITE_POLICIES);
    const hypers = this.paramGroups.map((g, i) => checkHyper(g as unknown as Record<string, unknown>, `paramGroups[${i}]`));
    this.busy = true;
    return { policy, hypers };
  }

  private nonFiniteResult(policy: NonFinitePolicy): StepResult {
    if (policy === "skip") return { step: this.steps, skipped: true };
    throw withCode(
      new Error("microadam-native/distributed: the reduced gradient holds NaN or Inf (nonFinite 'error'); no rank changed anything"),
      "ERR_MICROADAM_NON_FINITE",
    );
  }

  /** This rank's pieces, stepped by the local MicroAdam (its params are views of the tensors). */
  private localStep(hypers: ResolvedHyper[]): void {
    if (!this.local) return;
    this.local.paramGroups.forEach((g, i) => Object.assign(g, hypers[this.localGroupOuter[i]]));
    if (this.onDevice) {
      this.local.step(this.onDevice.pieceGrads()); // stream 0: returns when the device has finished
      return;
    }
    const reducedViews: Float32Array[] = [];
    let from = 0;
    for (const p of this.partition.pieces[this.group.rank]) {
      reducedViews.push(this.ownReduced.subarray(from, from + (p.end - p.begin)));
      from += p.end - p.begin;
    }
    this.local.step(reducedViews);
  }

  /**
   * Saves a sharded checkpoint into `directory` (every rank calls it; a shared filesystem when the
   * ranks are on several machines): this rank's shard, then rank 0's manifest, each atomic.
   */
  save(directory: string): Promise<void> {
    return this.exclusive(() => saveSharded(this, directory));
  }

  /**
   * Loads a sharded checkpoint saved at any world size (every rank calls it): all ranks load, or
   * none changes anything and all throw.
   */
  load(directory: string): Promise<void> {
    return this.exclusive(() => loadSharded(this, directory));
  }

  /**
   * Frees this rank's state (and on device 'cuda' its device buffers and communicator). During a
   * step or checkpoint the memory is freed when it settles: its collectives may still be reading it.
   */
  dispose(): void {
    this.disposedFlag = true;
    if (!this.busy) this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.local?.dispose();
    this.onDevice?.dispose();
  }

  /** The end of a step or checkpoint: not busy, and a dispose() that came during it takes effect. */
  private settle(): void {
    this.busy = false;
    if (this.disposedFlag) this.release();
  }

  /** @internal */
  hyperOf(outer: number): ResolvedHyper {
    const { lr, beta1, beta2, eps, weightDecay, alpha } = this.paramGroups[outer];
    return { lr, beta1, beta2, eps, weightDecay, alpha };
  }

  /** @internal for checkpoints: mark the optimizer busy around other collectives. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposedFlag) throw distributedError("the optimizer was disposed");
    if (this.busy) throw distributedError("a step or checkpoint of this optimizer is in flight; await it first", "ERR_MICROADAM_BUSY");
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.settle();
    }
  }

  /** @internal */
  setStepCount(steps: number): void {
    this.steps = steps;
  }

  /** A description of what must agree between ranks: sizes, groups, options. */
  describe(): string {
    return JSON.stringify({
      numels: this.lengths,
      dtypes: this.dtypes,
      device: this.device,
      groups: this.paramGroups.map((g) => g.params.length),
      hyper: this.paramGroups.map((_, i) => this.hyperOf(i)),
      layout: this.layout,
      denseBelow: this.denseBelow,
      nonFinite: this.nonFinite,
      reduce: this.reduce,
      reduceChunkElements: this.reduceChunkElements,
    });
  }

  /** The tensor count and a fingerprint of describe(): equal on every rank when they agree. */
  private agreementKey(): Int32Array {
    const [a, b] = fingerprint(this.describe());
    return Int32Array.of(this.lengths.length, a, b);
  }

  private async checkAgreement(): Promise<void> {
    const description = this.describe();
    const mine = this.agreementKey();
    const all = new Int32Array(3 * this.group.size);
    await this.group.native.allGatherV(mine, all, new Array(this.group.size).fill(3));
    const differing: number[] = [];
    for (let r = 0; r < this.group.size; r++) if (all[3 * r] !== all[0] || all[3 * r + 1] !== all[1] || all[3 * r + 2] !== all[2]) differing.push(r);
    if (differing.length > 0)
      throw distributedError(
        `the ranks disagree on the tensors or options: rank${differing.length > 1 ? "s" : ""} ${differing.join(", ")} ` +
          `differ from rank 0 (tensor counts by rank: ${Array.from({ length: this.group.size }, (_, r) => all[3 * r]).join(", ")}). ` +
          `This rank (${this.group.rank}) has ${description}`,
        "ERR_MICROADAM_DISTRIBUTED_MISMATCH",
      );
  }

  private checkGrads(grads: unknown): asserts grads is Float32Array[] {
    if (!Array.isArray(grads) || grads.length !== this.lengths.length)
      throw typeError("grads", `an array of ${this.lengths.length} Float32Arrays (one per parameter)`, grads);
    grads.forEach((g, i) => {
      if (!(g instanceof Float32Array)) throw typeError(`grads[${i}]`, "a Float32Array", g);
      if (g.length !== this.lengths[i]) throw rangeError(`grads[${i}]`, `a Float32Array of length ${this.lengths[i]}`, g);
    });
  }

  /** Device 'cuda': one float32 device tensor per parameter, of its size, on this rank's device. */
  private deviceGrads(grads: unknown, deviceIndex: number): DeviceRef[] {
    if (this.disposedFlag) throw distributedError("the optimizer was disposed");
    if (!Array.isArray(grads) || grads.length !== this.lengths.length)
      throw typeError("grads", `an array of ${this.lengths.length} float32 device tensors (one per parameter)`, grads);
    return grads.map((g, i) => {
      const ref = deviceRef(g, `grads[${i}]`, deviceIndex);
      if (ref.numel !== this.lengths[i]) throw rangeError(`grads[${i}].numel`, `${this.lengths[i]} (its parameter's)`, ref.numel);
      return ref;
    });
  }
}
