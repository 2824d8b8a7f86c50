// A plain, slow model of one MicroAdam step, following docs/algorithm.md line by line. It is
// the test suite's yardstick for the native engine, so it favours being obviously right over
// being fast (Top-K sorts, accumulators are dense arrays). Step numbers in comments are the
// doc's.

import {
  add,
  bf16Down,
  bf16ToF32,
  bf16Up,
  div,
  f16ToF32,
  f32,
  f32ToBf16,
  f32ToF16,
  magnitudeKey,
  mul,
  sqrt,
  sub,
} from "./numeric";

export interface ModelConfig {
  numel: number;
  window: number;
  density: number;
  topkBlockSize: number;
  quantBlockSize: number;
}

export const MODEL_CONFIG_DEFAULTS = {
  window: 10,
  density: 0.01,
  topkBlockSize: 4096,
  quantBlockSize: 64,
} as const;

export interface ModelLayout {
  blockCount: number;
  /** k_j: entries kept per step by block j. */
  k: number[];
  /** o_j: first row slot of block j. */
  offsets: number[];
  /** K = Σ k_j, the length of one window row. */
  K: number;
  bucketCount: number;
  stateBytes: number;
}

export interface ModelState {
  step: number;
  errorCodes: Uint8Array;
  errorMin: Uint16Array;
  errorMax: Uint16Array;
  windowIndices: Uint16Array;
  windowValues: Uint16Array;
}

export type ModelDtype = "f32" | "bf16" | "f16";

export type ModelTensor = { data: Float32Array | Uint16Array; dtype: ModelDtype };

export type ModelNonFinitePolicy = "skip" | "error" | "ignore";

export interface ModelHyperparameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  alpha: number;
  nonFinite: ModelNonFinitePolicy;
}

export const MODEL_HYPERPARAMETER_DEFAULTS = {
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  alpha: 0,
  nonFinite: "skip",
} as const;

/** Fills the doc's defaults into step options the way the public API takes them. */
export function modelHyperparameters(
  options: { lr: number } & Partial<ModelHyperparameters>,
): ModelHyperparameters {
  const filled: ModelHyperparameters = { ...MODEL_HYPERPARAMETER_DEFAULTS, lr: options.lr };
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined) (filled as unknown as Record<string, unknown>)[name] = value;
  }
  return filled;
}

// ---- Layout ----

/** Rejects configurations the doc does not allow, so a test cannot model an impossible state. */
export function checkModelConfig(cfg: ModelConfig): void {
  const { numel: n, window: m, density, topkBlockSize: B, quantBlockSize: Q } = cfg;
  const ok =
    Number.isSafeInteger(n) && n >= 1 &&
    Number.isInteger(m) && m >= 1 && m <= 1024 &&
    density > 0 && density <= 1 &&
    Number.isInteger(Q) && Q >= 2 && Q <= 65536 && Q % 2 === 0 &&
    Number.isInteger(B) && B >= Q && B <= 65536 && B % Q === 0;
  if (!ok) throw new Error(`model: configuration not allowed: ${JSON.stringify(cfg)}`);
}

export function modelLayout(cfg: ModelConfig): ModelLayout {
  checkModelConfig(cfg);
  const { numel: n, window: m, density, topkBlockSize: B, quantBlockSize: Q } = cfg;
  const blockCount = Math.ceil(n / B);
  const k: number[] = [];
  const offsets: number[] = [];
  let K = 0;
  for (let j = 0; j < blockCount; j++) {
    const size = Math.min(n, (j + 1) * B) - j * B;
    // The 1e-9 keeps 40.96 → 41 and 1.0000000000000002 → 1 (see the doc's Layout).
    offsets.push(K);
    k.push(Math.min(size, Math.max(1, Math.ceil(size * density - 1e-9))));
    K += k[j];
  }
  const bucketCount = Math.ceil(n / Q);
  const stateBytes = Math.ceil(n / 2) + 4 * bucketCount + 4 * m * K;
  return { blockCount, k, offsets, K, bucketCount, stateBytes };
}

export function createModelState(cfg: ModelConfig): ModelState {
  const { bucketCount, K } = modelLayout(cfg);
  return {
    step: 0,
    errorCodes: new Uint8Array(Math.ceil(cfg.numel / 2)),
    errorMin: new Uint16Array(bucketCount),
    errorMax: new Uint16Array(bucketCount),
    windowIndices: new Uint16Array(cfg.window * K),
    windowValues: new Uint16Array(cfg.window * K),
  };
}

export function cloneModelState(state: ModelState): ModelState {
  return {
    step: state.step,
    errorCodes: state.errorCodes.slice(),
    errorMin: state.errorMin.slice(),
    errorMax: state.errorMax.slice(),
    windowIndices: state.windowIndices.slice(),
    windowValues: state.windowValues.slice(),
  };
}

// ---- Tensor elements ----

function readElement(tensor: ModelTensor, i: number): number {
  const raw = tensor.data[i];
  if (tensor.dtype === "f32") return raw;
  return tensor.dtype === "bf16" ? bf16ToF32(raw) : f16ToF32(raw);
}

function writeElement(tensor: ModelTensor, i: number, x: number): void {
  // A NaN result is stored as 0x7FC00000 (the NaN literal); a computed NaN keeps the sign the
  // processor gave it (x86: 0xFFC00000), which docs/algorithm.md step 7 rules out.
  if (tensor.dtype === "f32") tensor.data[i] = Number.isNaN(x) ? NaN : x;
  else tensor.data[i] = tensor.dtype === "bf16" ? f32ToBf16(x) : f32ToF16(x);
}

function hasNonFinite(tensor: ModelTensor): boolean {
  for (let i = 0; i < tensor.data.length; i++) {
    if (!Number.isFinite(readElement(tensor, i))) return true;
  }
  return false;
}

// ---- 4-bit codes: element 2i in the high nibble of byte i ----

export function readCode(codes: Uint8Array, i: number): number {
  const byte = codes[i >> 1];
  return i % 2 === 0 ? byte >> 4 : byte & 0x0f;
}

function writeCode(codes: Uint8Array, i: number, code: number): void {
  const byte = codes[i >> 1];
  codes[i >> 1] = i % 2 === 0 ? (byte & 0x0f) | (code << 4) : (byte & 0xf0) | code;
}

// ---- Error quantization (steps 1, 3 and 6) ----

/** u_b of step 1: (hi − lo)/15, or 0 when that is not finite. */
function bucketUnit(lo: number, hi: number): number {
  const unit = div(sub(hi, lo), 15);
  return Number.isFinite(unit) ? unit : 0;
}

/** deq_i = c_i·u_b + lo_b for every element, from stored codes and bf16 ranges. */
export function dequantizeError(
  cfg: ModelConfig,
  codes: Uint8Array,
  errorMin: Uint16Array,
  errorMax: Uint16Array,
): number[] {
  const Q = cfg.quantBlockSize;
  const deq = new Array<number>(cfg.numel);
  for (let i = 0; i < cfg.numel; i++) {
    const b = Math.floor(i / Q);
    const lo = bf16ToF32(errorMin[b]);
    const unit = bucketUnit(lo, bf16ToF32(errorMax[b]));
    deq[i] = add(mul(readCode(codes, i), unit), lo);
  }
  return deq;
}

export interface QuantizedError {
  codes: Uint8Array;
  errorMin: Uint16Array;
  errorMax: Uint16Array;
}

/**
 * Step 3 on the float32 values `a`. Min and max skip NaNs and count −0 as smaller than +0, so a
 * bucket whose minimum is a zero keeps −0 if it holds one, and whose maximum is a zero keeps +0
 * if it holds one.
 */
export function quantizeError(cfg: ModelConfig, a: number[]): QuantizedError {
  const n = cfg.numel;
  const Q = cfg.quantBlockSize;
  const bucketCount = Math.ceil(n / Q);
  const out: QuantizedError = {
    codes: new Uint8Array(Math.ceil(n / 2)),
    errorMin: new Uint16Array(bucketCount),
    errorMax: new Uint16Array(bucketCount),
  };
  for (let b = 0; b < bucketCount; b++) {
    const start = b * Q;
    const end = Math.min(n, start + Q);
    let min: number | undefined;
    let max: number | undefined;
    for (let i = start; i < end; i++) {
      if (Number.isNaN(a[i])) continue;
      if (min === undefined || a[i] < min || (a[i] === min && Object.is(a[i], -0))) min = a[i];
      if (max === undefined || a[i] > max || (a[i] === max && Object.is(a[i], 0))) max = a[i];
    }
    const loBits = min === undefined ? 0 : bf16Down(min);
    const hiBits = max === undefined ? 0 : bf16Up(max);
    out.errorMin[b] = loBits;
    out.errorMax[b] = hiBits;
    const lo = bf16ToF32(loBits);
    const hi = bf16ToF32(hiBits);
    const unit = div(sub(hi, lo), 15);
    if (hi === lo || !Number.isFinite(unit)) continue; // constant bucket: codes stay 0
    for (let i = start; i < end; i++) {
      const scaled = Math.floor(add(div(sub(a[i], lo), unit), 0.5));
      const code = Number.isNaN(scaled) ? 0 : Math.min(15, Math.max(0, scaled));
      writeCode(out.codes, i, code);
    }
  }
  return out;
}

// ---- Top-K (step 2) ----

/** Global indices of block j's kept elements, in ascending index order. */
export function selectTopK(a: number[], blockStart: number, blockEnd: number, k: number): number[] {
  const indices: number[] = [];
  for (let i = blockStart; i < blockEnd; i++) indices.push(i);
  indices.sort((x, y) => magnitudeKey(a[y]) - magnitudeKey(a[x]) || x - y);
  return indices.slice(0, k).sort((x, y) => x - y);
}

// ---- The step ----

export interface ModelStepResult {
  step: number;
  skipped: boolean;
}

/** β^t as the doc fixes it: binary exponentiation in float64 (not the math library's pow). */
export function powerByBinaryExponentiation(base: number, exponent: number): number {
  let result = 1;
  for (let e = exponent; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) result = result * base;
    base = base * base;
  }
  return result;
}

/** Scalars of the doc's "Numbers": float64 from the given numbers, rounded to float32 once. */
function stepScalars(hp: ModelHyperparameters, t: number) {
  return {
    lr: f32(hp.lr),
    eps: f32(hp.eps),
    beta1: f32(hp.beta1),
    beta2: f32(hp.beta2),
    alpha: f32(hp.alpha),
    oneMinusAlpha: f32(1 - hp.alpha),
    decay: f32(1 - hp.lr * hp.weightDecay),
    c1: f32((1 - hp.beta1) / (1 - powerByBinaryExponentiation(hp.beta1, t))),
    c2: f32((1 - hp.beta2) / (1 - powerByBinaryExponentiation(hp.beta2, t))),
  };
}

/**
 * One step: updates `params` and `state` in place. Throws (changing nothing) on a non-finite
 * gradient under 'error'; changes nothing and reports skipped under 'skip'.
 */
export function modelStep(
  cfg: ModelConfig,
  state: ModelState,
  params: ModelTensor,
  grads: ModelTensor,
  hp: ModelHyperparameters,
): ModelStepResult {
  const n = cfg.numel;
  const m = cfg.window;
  const B = cfg.topkBlockSize;
  if (params.data.length !== n || grads.data.length !== n) {
    throw new Error(`model: tensors must have ${n} elements`);
  }

  // Step 0.
  if (hp.nonFinite !== "ignore" && hasNonFinite(grads)) {
    if (hp.nonFinite === "error") throw new Error("model: non-finite gradient");
    return { step: state.step, skipped: true };
  }

  // Step 1.
  const t = state.step + 1;
  const s = stepScalars(hp, t);
  const deqBefore = dequantizeError(cfg, state.errorCodes, state.errorMin, state.errorMax);
  const a: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) a[i] = add(readElement(grads, i), deqBefore[i]);

  // Step 2.
  const layout = modelLayout(cfg);
  const K = layout.K;
  const row = (t - 1) % m;
  const windowIndices = state.windowIndices.slice();
  const windowValues = state.windowValues.slice();
  for (let j = 0; j < layout.blockCount; j++) {
    const blockStart = j * B;
    const kept = selectTopK(a, blockStart, Math.min(n, blockStart + B), layout.k[j]);
    kept.forEach((i, q) => {
      const slot = row * K + layout.offsets[j] + q;
      windowIndices[slot] = i - blockStart;
      windowValues[slot] = f32ToBf16(a[i]);
    });
    for (const i of kept) a[i] = 0;
  }

  // Step 3.
  let error = quantizeError(cfg, a);

  // Step 4.
  const rows = Math.min(t, m);
  const p1: number[] = [1];
  const p2: number[] = [1];
  for (let e = 1; e < m; e++) {
    p1.push(mul(p1[e - 1], s.beta1));
    p2.push(mul(p2[e - 1], s.beta2));
  }
  const M = new Array<number>(n).fill(0);
  const W = new Array<number>(n).fill(0);
  const touched = new Uint8Array(n);
  for (let j = 0; j < layout.blockCount; j++) {
    for (let r = 0; r < rows; r++) {
      const age = (((t - 1 - r) % m) + m) % m;
      for (let q = 0; q < layout.k[j]; q++) {
        const slot = r * K + layout.offsets[j] + q;
        const v = bf16ToF32(windowValues[slot]);
        const i = j * B + windowIndices[slot];
        M[i] = add(M[i], mul(p1[age], v));
        W[i] = add(W[i], mul(p2[age], mul(v, v)));
        touched[i] = 1;
      }
    }
  }

  // Step 5.
  const direction = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    direction[i] = touched[i] ? div(mul(s.c1, M[i]), add(sqrt(mul(s.c2, W[i])), s.eps)) : 0;
  }

  // Step 6.
  if (hp.alpha > 0) {
    const deq = dequantizeError(cfg, error.codes, error.errorMin, error.errorMax);
    const e = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      direction[i] = add(direction[i], mul(s.alpha, deq[i]));
      e[i] = mul(s.oneMinusAlpha, deq[i]);
    }
    error = quantizeError(cfg, e);
  }

  // Step 7.
  for (let i = 0; i < n; i++) {
    if (hp.weightDecay === 0 && Object.is(direction[i], 0)) continue; // +0 leaves p_i as it is
    let x = readElement(params, i);
    if (hp.weightDecay !== 0) x = mul(x, s.decay);
    x = sub(x, mul(s.lr, direction[i]));
    writeElement(params, i, x);
  }

  state.step = t;
  state.errorCodes.set(error.codes);
  state.errorMin.set(error.errorMin);
  state.errorMax.set(error.errorMax);
  state.windowIndices.set(windowIndices);
  state.windowValues.set(windowValues);
  return { step: t, skipped: false };
}
