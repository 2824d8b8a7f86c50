// The sections of a checkpoint (docs/checkpoint-format.md): LAYT (one tensor's layout), STAT
// (its step counter and five buffers, exactly the snapshot fields of docs/algorithm.md, "State",
// so the bytes do not depend on the device that wrote them), OPTM (an optimizer's param groups)
// and ADMW (one AdamW state: its step counter and two float32 moments). Encoding and decoding
// only; nothing here touches a state.
import { endianness } from "os";
import type { AdamWSnapshot } from "../adamw";
import type { NativeLayout } from "../binding";
import type { ResolvedHyper } from "../hyper";
import type { MicroAdamSnapshot, MicroAdamStateConfig } from "../types";
import { checkpointError, readSafeU64, type DecodedSection } from "./format";

/** A tensor's layout options and the facts derived from them, as a checkpoint records them (the native layout but stateBytes). */
export type LayoutRecord = Omit<NativeLayout, "stateBytes">;

/** One param group: its hyperparameters and how many tensors (states) it has. */
export interface SavedGroup extends ResolvedHyper {
  tensorCount: number;
}

export const LAYOUT_BYTES = 56;
const STEP_BYTES = 8;
const OPTIMIZER_HEADER_BYTES = 8;
/** ADMW: numel, step. */
const ADAMW_HEADER_BYTES = 16;
const GROUP_BYTES = 56;
const HYPER_ORDER = ["lr", "beta1", "beta2", "eps", "weightDecay", "alpha"] as const;
const littleEndianHost = endianness() === "LE";

/** What a layout record needs to know of a state. */
export interface LayoutSource {
  readonly config: Readonly<MicroAdamStateConfig>;
  readonly blockCount: number;
  readonly bucketCount: number;
  readonly rowLength: number;
}

export function layoutOf(state: LayoutSource): LayoutRecord {
  const { numel, window, density, topkBlockSize, quantBlockSize } = state.config;
  return { numel, window, density, topkBlockSize, quantBlockSize, blockCount: state.blockCount, bucketCount: state.bucketCount, rowLength: state.rowLength };
}

export function encodeLayout(r: LayoutRecord): Uint8Array {
  const b = Buffer.alloc(LAYOUT_BYTES);
  b.writeBigUInt64LE(BigInt(r.numel), 0);
  b.writeUInt32LE(r.window, 8);
  b.writeUInt32LE(r.topkBlockSize, 12);
  b.writeUInt32LE(r.quantBlockSize, 16);
  b.writeUInt32LE(0, 20);
  b.writeDoubleLE(r.density, 24);
  b.writeBigUInt64LE(BigInt(r.blockCount), 32);
  b.writeBigUInt64LE(BigInt(r.bucketCount), 40);
  b.writeBigUInt64LE(BigInt(r.rowLength), 48);
  return b;
}

/**
 * Reads a layout and checks what can be checked without a native state: the derived counts
 * agree with the options, so the STAT section's size follows from them (the native layout
 * later confirms rowLength, which depends on the density rounding of docs/algorithm.md).
 */
export function decodeLayout(section: DecodedSection, where: string): LayoutRecord {
  const b = asBuffer(section.payload);
  const name = "its LAYT section";
  if (b.length !== LAYOUT_BYTES) throw checkpointError(where, `${name} has ${b.length} bytes, expected ${LAYOUT_BYTES}`);
  if (b.readUInt32LE(20) !== 0) throw checkpointError(where, `${name} has non-zero reserved bytes`);
  const r: LayoutRecord = {
    numel: readSafeU64(b, 0, where, "numel"),
    window: b.readUInt32LE(8),
    topkBlockSize: b.readUInt32LE(12),
    quantBlockSize: b.readUInt32LE(16),
    density: b.readDoubleLE(24),
    blockCount: readSafeU64(b, 32, where, "blockCount"),
    bucketCount: readSafeU64(b, 40, where, "bucketCount"),
    rowLength: readSafeU64(b, 48, where, "rowLength"),
  };
  if (r.numel < 1 || r.topkBlockSize < 1 || r.quantBlockSize < 1 || r.window < 1)
    throw checkpointError(where, `${name} has a zero size (numel ${r.numel}, window ${r.window}, topkBlockSize ${r.topkBlockSize}, quantBlockSize ${r.quantBlockSize})`);
  if (r.blockCount !== Math.ceil(r.numel / r.topkBlockSize) || r.bucketCount !== Math.ceil(r.numel / r.quantBlockSize))
    throw checkpointError(where, `${name} is inconsistent: ${r.blockCount} blocks and ${r.bucketCount} buckets do not fit numel ${r.numel}`);
  if (r.rowLength < r.blockCount || r.rowLength > r.numel)
    throw checkpointError(where, `${name} is inconsistent: rowLength ${r.rowLength} is outside [${r.blockCount}, ${r.numel}]`);
  return r;
}

function stateLengths(r: LayoutRecord) {
  const windowLength = r.window * r.rowLength;
  return { codes: Math.ceil(r.numel / 2), buckets: r.bucketCount, window: windowLength };
}

/** The STAT payload as parts that view the snapshot's own arrays (no copy on little-endian hosts). */
export function encodeStateParts(snapshot: MicroAdamSnapshot): Uint8Array[] {
  const step = Buffer.alloc(STEP_BYTES);
  step.writeBigUInt64LE(BigInt(snapshot.step), 0);
  return [
    step,
    bytesOf(snapshot.errorCodes),
    littleEndianBytes(snapshot.errorMin),
    littleEndianBytes(snapshot.errorMax),
    littleEndianBytes(snapshot.windowIndices),
    littleEndianBytes(snapshot.windowValues),
  ];
}

/** Reads a STAT payload laid out by `layout` into a fresh snapshot. */
export function decodeState(section: DecodedSection, layout: LayoutRecord, where: string): MicroAdamSnapshot {
  const b = asBuffer(section.payload);
  const n = stateLengths(layout);
  const expected = STEP_BYTES + n.codes + 4 * n.buckets + 4 * n.window;
  if (b.length !== expected)
    throw checkpointError(where, `its STAT section has ${b.length} bytes, its layout needs ${expected}`);
  let offset = STEP_BYTES;
  const take = (count: number) => b.subarray(offset, (offset += count));
  return {
    step: readSafeU64(b, 0, where, "the step counter"),
    errorCodes: new Uint8Array(take(n.codes)),
    errorMin: readUint16(take(2 * n.buckets)),
    errorMax: readUint16(take(2 * n.buckets)),
    windowIndices: readUint16(take(2 * n.window)),
    windowValues: readUint16(take(2 * n.window)),
  };
}

export function encodeOptimizer(groups: readonly SavedGroup[]): Uint8Array {
  const b = Buffer.alloc(OPTIMIZER_HEADER_BYTES + GROUP_BYTES * groups.length);
  b.writeUInt32LE(groups.length, 0);
  b.writeUInt32LE(groups.reduce((sum, g) => sum + g.tensorCount, 0), 4);
  groups.forEach((g, i) => {
    const at = OPTIMIZER_HEADER_BYTES + GROUP_BYTES * i;
    HYPER_ORDER.forEach((field, k) => b.writeDoubleLE(g[field], at + 8 * k));
    b.writeUInt32LE(g.tensorCount, at + 48);
    b.writeUInt32LE(0, at + 52);
  });
  return b;
}

/** Reads the param groups; their hyperparameters are checked by the optimizer that loads them. */
export function decodeOptimizer(section: DecodedSection, where: string): { groups: SavedGroup[]; tensorCount: number } {
  const b = asBuffer(section.payload);
  if (b.length < OPTIMIZER_HEADER_BYTES) throw checkpointError(where, `its OPTM section has ${b.length} bytes, fewer than ${OPTIMIZER_HEADER_BYTES}`);
  const groupCount = b.readUInt32LE(0);
  const tensorCount = b.readUInt32LE(4);
  if (b.length !== OPTIMIZER_HEADER_BYTES + GROUP_BYTES * groupCount)
    throw checkpointError(where, `its OPTM section has ${b.length} bytes, ${groupCount} groups need ${OPTIMIZER_HEADER_BYTES + GROUP_BYTES * groupCount}`);
  const groups: SavedGroup[] = [];
  for (let i = 0; i < groupCount; i++) {
    const at = OPTIMIZER_HEADER_BYTES + GROUP_BYTES * i;
    if (b.readUInt32LE(at + 52) !== 0) throw checkpointError(where, `param group ${i} has non-zero reserved bytes`);
    const hyper = Object.fromEntries(HYPER_ORDER.map((field, k) => [field, b.readDoubleLE(at + 8 * k)])) as unknown as ResolvedHyper;
    groups.push({ ...hyper, tensorCount: b.readUInt32LE(at + 48) });
  }
  const sum = groups.reduce((s, g) => s + g.tensorCount, 0);
  if (sum !== tensorCount) throw checkpointError(where, `its param groups hold ${sum} tensors, its OPTM section says ${tensorCount}`);
  return { groups, tensorCount };
}

/** The ADMW payload as parts that view the snapshot's moments (no copy on little-endian hosts). */
export function encodeAdamWParts(numel: number, snapshot: AdamWSnapshot): Uint8Array[] {
  const head = Buffer.alloc(ADAMW_HEADER_BYTES);
  head.writeBigUInt64LE(BigInt(numel), 0);
  head.writeBigUInt64LE(BigInt(snapshot.step), 8);
  return [head, littleEndianBytes(snapshot.expAvg), littleEndianBytes(snapshot.expAvgSq)];
}

/** Reads an ADMW payload into a fresh snapshot; its size must follow from its numel. */
export function decodeAdamW(section: DecodedSection, where: string): { numel: number; snapshot: AdamWSnapshot } {
  const b = asBuffer(section.payload);
  const name = "its ADMW section";
  if (b.length < ADAMW_HEADER_BYTES) throw checkpointError(where, `${name} has ${b.length} bytes, fewer than ${ADAMW_HEADER_BYTES}`);
  const numel = readSafeU64(b, 0, where, "numel");
  if (numel < 1) throw checkpointError(where, `${name} has numel 0`);
  if (b.length - ADAMW_HEADER_BYTES !== 8 * numel)
    throw checkpointError(where, `${name} has ${b.length} bytes, numel ${numel} needs ${ADAMW_HEADER_BYTES + 8 * numel}`);
  const momentBytes = 4 * numel;
  return {
    numel,
    snapshot: {
      step: readSafeU64(b, 8, where, "the step counter"),
      expAvg: readFloat32(b.subarray(ADAMW_HEADER_BYTES, ADAMW_HEADER_BYTES + momentBytes)),
      expAvgSq: readFloat32(b.subarray(ADAMW_HEADER_BYTES + momentBytes)),
    },
  };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** The elements' bytes, little-endian (BYTES_PER_ELEMENT, not instanceof: the addon's arrays may come from another realm). */
function littleEndianBytes(values: Uint16Array | Float32Array): Uint8Array {
  if (littleEndianHost) return bytesOf(values);
  const b = Buffer.alloc(values.byteLength);
  if (values.BYTES_PER_ELEMENT === 2) values.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
  else new Uint32Array(values.buffer, values.byteOffset, values.length).forEach((v, i) => b.writeUInt32LE(v, 4 * i));
  return b;
}

function readUint16(bytes: Uint8Array): Uint16Array {
  const out = new Uint16Array(bytes.byteLength / 2);
  if (littleEndianHost) new Uint8Array(out.buffer).set(bytes);
  else {
    const b = asBuffer(bytes);
    for (let i = 0; i < out.length; i++) out[i] = b.readUInt16LE(2 * i);
  }
  return out;
}

function readFloat32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  if (littleEndianHost) new Uint8Array(out.buffer).set(bytes);
  else {
    const bits = new Uint32Array(out.buffer);
    const b = asBuffer(bytes);
    for (let i = 0; i < bits.length; i++) bits[i] = b.readUInt32LE(4 * i);
  }
  return out;
}
