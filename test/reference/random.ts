// Seeded random inputs for the agreement tests: the same seed gives the same tensors on every
// machine, so a failing case can be replayed from the seed printed with it.

import { f32Bits, f32ToBf16, f32ToF16 } from "./numeric";
import type { ModelDtype, ModelTensor } from "./microadam-model";

/** mulberry32: small, fast, good enough to spread test inputs (not for statistics). */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(choices: readonly T[]): T {
    return choices[Math.floor(this.next() * choices.length)];
  }
}

/**
 * How often each kind of value appears, as probabilities; what is left over goes to ordinary
 * values (random mantissa, exponent in [minExponent, maxExponent], random sign).
 */
export interface ValueProfile {
  /** ±0, either sign. */
  zeros: number;
  /** A copy of an earlier element's magnitude with a random sign: an exact tie in |a|. */
  ties: number;
  /** A run of copies of the previous element (constant stretches, constant buckets). */
  runs: number;
  /** Subnormals of the tensor's own dtype. */
  subnormals: number;
  /** Values near the top of the dtype's finite range (1e38 and up for f32 and bf16). */
  huge: number;
  minExponent: number;
  maxExponent: number;
  /** Longest run, when a run starts. */
  maxRun: number;
}

export const MIXED_VALUES: ValueProfile = {
  zeros: 0.04,
  ties: 0.08,
  runs: 0.03,
  subnormals: 0.02,
  huge: 0,
  minExponent: -24,
  maxExponent: 6,
  maxRun: 80,
};

/** Parameters: ordinary values with a few zeros and ties, nothing that overflows on its own. */
export const PARAM_VALUES: ValueProfile = {
  zeros: 0.03,
  ties: 0.03,
  runs: 0.01,
  subnormals: 0.01,
  huge: 0,
  minExponent: -12,
  maxExponent: 3,
  maxRun: 8,
};

export function profile(overrides: Partial<ValueProfile>): ValueProfile {
  return { ...MIXED_VALUES, ...overrides };
}

/** Bit-level description of a dtype: everything the generator needs to know about it. */
interface DtypeBits {
  signBit: number;
  largestSubnormal: number;
  /** A few finite values near the top of the range. */
  hugeValues: number[];
  encode(x: number): number;
}

const DTYPE_BITS: Record<ModelDtype, DtypeBits> = {
  f32: {
    signBit: 0x80000000,
    largestSubnormal: 0x007fffff,
    hugeValues: [1e38, 1.5e38, 3e38, 3.4028234663852886e38],
    encode: f32Bits,
  },
  bf16: {
    signBit: 0x8000,
    largestSubnormal: 0x007f,
    hugeValues: [1e38, 1.5e38, 3e38, 3.3895313892515355e38],
    encode: f32ToBf16,
  },
  f16: {
    signBit: 0x8000,
    largestSubnormal: 0x03ff,
    hugeValues: [3e4, 5e4, 65504],
    encode: f32ToF16,
  },
};

type ValueKind = "zero" | "tie" | "run" | "subnormal" | "huge" | "ordinary";

function pickKind(u: number, values: ValueProfile): ValueKind {
  if ((u -= values.zeros) < 0) return "zero";
  if ((u -= values.ties) < 0) return "tie";
  if ((u -= values.runs) < 0) return "run";
  if ((u -= values.subnormals) < 0) return "subnormal";
  if ((u -= values.huge) < 0) return "huge";
  return "ordinary";
}

/** n elements of the dtype, as raw bits, drawn from the profile. */
export function randomBits(rng: Random, n: number, dtype: ModelDtype, values: ValueProfile): number[] {
  const kind = DTYPE_BITS[dtype];
  const bits: number[] = [];
  const withRandomSign = (magnitudeBits: number) =>
    (rng.chance(0.5) ? magnitudeBits | kind.signBit : magnitudeBits) >>> 0;
  const ordinary = () => {
    const exponent = rng.int(values.minExponent, values.maxExponent);
    return withRandomSign(kind.encode((1 + rng.next()) * 2 ** exponent));
  };
  while (bits.length < n) {
    const pick = pickKind(rng.next(), values);
    if (pick === "zero") {
      bits.push(withRandomSign(0));
    } else if (pick === "tie" && bits.length > 0) {
      const earlier = bits[rng.int(0, bits.length - 1)];
      bits.push(withRandomSign((earlier & ~kind.signBit) >>> 0));
    } else if (pick === "run" && bits.length > 0) {
      const previous = bits[bits.length - 1];
      for (let r = rng.int(1, values.maxRun); r > 0 && bits.length < n; r--) bits.push(previous);
    } else if (pick === "subnormal") {
      bits.push(withRandomSign(rng.int(1, kind.largestSubnormal)));
    } else if (pick === "huge") {
      bits.push(withRandomSign(kind.encode(rng.pick(kind.hugeValues) * (1 - 0.1 * rng.next()))));
    } else {
      bits.push(ordinary()); // also a tie or run with nothing before it to copy
    }
  }
  return bits;
}

export function tensorFromBits(bits: number[], dtype: ModelDtype): ModelTensor {
  if (dtype === "f32") {
    const data = new Float32Array(bits.length);
    new Uint32Array(data.buffer).set(bits); // through the bits, so NaN payloads are kept
    return { data, dtype };
  }
  return { data: Uint16Array.from(bits), dtype };
}

export function randomTensor(rng: Random, n: number, dtype: ModelDtype, values: ValueProfile): ModelTensor {
  return tensorFromBits(randomBits(rng, n, dtype, values), dtype);
}

export function cloneTensor(tensor: ModelTensor): ModelTensor {
  return { data: tensor.data.slice(), dtype: tensor.dtype } as ModelTensor;
}

export type NonFiniteKind = "nan" | "-nan" | "inf" | "-inf";

/** Canonical quiet NaN and ±Inf bits per dtype (the only NaNs the tests use; see magnitudeKey). */
const NON_FINITE_BITS: Record<ModelDtype, Record<NonFiniteKind, number>> = {
  f32: { nan: 0x7fc00000, "-nan": 0xffc00000, inf: 0x7f800000, "-inf": 0xff800000 },
  bf16: { nan: 0x7fc0, "-nan": 0xffc0, inf: 0x7f80, "-inf": 0xff80 },
  f16: { nan: 0x7e00, "-nan": 0xfe00, inf: 0x7c00, "-inf": 0xfc00 },
};

/** Writes `count` non-finite values of the given kinds at random positions. */
export function injectNonFinite(
  rng: Random,
  tensor: ModelTensor,
  count: number,
  kinds: readonly NonFiniteKind[],
): void {
  const raw =
    tensor.dtype === "f32" ? new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length) : tensor.data;
  for (let c = 0; c < count; c++) {
    raw[rng.int(0, tensor.data.length - 1)] = NON_FINITE_BITS[tensor.dtype][rng.pick(kinds)];
  }
}
