// A native optimizer state as the data of one int32 tfjs tensor, bit for bit, so that
// getWeights/setWeights (and model.save with includeOptimizer) carry the complete state.
//
// Layout: 32-bit words, every number little-endian whatever the platform (the tensor's bytes are
// what tfjs's IO handlers store).
//   word 0      format version (1)
//   word 1      kind: 1 = MicroAdam, 2 = AdamW
//   words 2–3   numel (low, high 32 bits)
//   words 4–5   step t (low, high 32 bits)
// MicroAdam, then:
//   words 6–8   window m, topkBlockSize B, quantBlockSize Q
//   words 9–10  density δ, the 8 bytes of its float64
//   words 11–15 lengths (elements) of errorCodes, errorMin, errorMax, windowIndices, windowValues
//   word 16…    those five buffers' bytes in that order (docs/algorithm.md, "State"), each padded
//               with zeros to a whole word
// AdamW, then:
//   words 6…    expAvg, then expAvgSq: numel float32 bit patterns each
import { createAdamWState, type AdamWState } from "../adamw";
import { createMicroAdamState, type MicroAdamState } from "../state";
import type { MicroAdamSnapshot } from "../types";
import { rangeError } from "../validate";

export type StateKind = "microadam" | "adamw";

const FORMAT_VERSION = 1;
const KIND_CODE: Readonly<Record<StateKind, number>> = { microadam: 1, adamw: 2 };
const MICROADAM_HEADER_WORDS = 16;
const ADAMW_HEADER_WORDS = 6;
const TWO_32 = 2 ** 32;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type ElementArray = Uint8Array | Uint16Array | Float32Array;

function paddedBytes(array: ElementArray): number {
  return Math.ceil(array.byteLength / 4) * 4;
}

/** Copies an array's elements into `bytes` at `offset`, little-endian. */
function writeElements(bytes: Uint8Array, offset: number, array: ElementArray): void {
  if (LITTLE_ENDIAN || array.BYTES_PER_ELEMENT === 1) {
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
    return;
  }
  // Big-endian platforms: element by element (BYTES_PER_ELEMENT, not instanceof: the native
  // addon's arrays may come from another realm).
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  if (array.BYTES_PER_ELEMENT === 2) array.forEach((v, i) => view.setUint16(offset + 2 * i, v, true));
  else {
    const bits = new Uint32Array(array.buffer, array.byteOffset, array.length);
    for (let i = 0; i < bits.length; i++) view.setUint32(offset + 4 * i, bits[i], true);
  }
}

/** Reads `length` elements of `type` from `bytes` at `offset`, little-endian, into a new array. */
function readElements<T extends ElementArray>(
  bytes: Uint8Array,
  offset: number,
  length: number,
  type: { new (length: number): T; BYTES_PER_ELEMENT: number },
): T {
  const out = new type(length);
  const byteLength = length * type.BYTES_PER_ELEMENT;
  if (LITTLE_ENDIAN || type.BYTES_PER_ELEMENT === 1) {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + byteLength));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  if (type.BYTES_PER_ELEMENT === 2) for (let i = 0; i < length; i++) out[i] = view.getUint16(offset + 2 * i, true);
  else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < length; i++) bits[i] = view.getUint32(offset + 4 * i, true);
  }
  return out;
}

function setUint53(view: DataView, word: number, value: number): void {
  view.setUint32(4 * word, value % TWO_32, true);
  view.setUint32(4 * word + 4, Math.floor(value / TWO_32), true);
}

function getUint53(view: DataView, word: number): number {
  return view.getUint32(4 * word, true) + view.getUint32(4 * word + 4, true) * TWO_32;
}

/** The words of one state (see the layout above). */
export function encodeState(kind: StateKind, state: MicroAdamState | AdamWState): Int32Array {
  if (kind === "adamw") {
    const s = (state as AdamWState).snapshot();
    const words = new Int32Array(ADAMW_HEADER_WORDS + 2 * s.expAvg.length);
    const view = new DataView(words.buffer);
    view.setInt32(0, FORMAT_VERSION, true);
    view.setInt32(4, KIND_CODE.adamw, true);
    setUint53(view, 2, state.numel);
    setUint53(view, 4, s.step);
    const bytes = new Uint8Array(words.buffer);
    writeElements(bytes, 4 * ADAMW_HEADER_WORDS, s.expAvg);
    writeElements(bytes, 4 * ADAMW_HEADER_WORDS + s.expAvg.byteLength, s.expAvgSq);
    return words;
  }
  const m = state as MicroAdamState;
  const s = m.snapshot();
  const arrays = [s.errorCodes, s.errorMin, s.errorMax, s.windowIndices, s.windowValues];
  const payload = arrays.reduce((sum, a) => sum + paddedBytes(a), 0);
  const words = new Int32Array(MICROADAM_HEADER_WORDS + payload / 4);
  const view = new DataView(words.buffer);
  view.setInt32(0, FORMAT_VERSION, true);
  view.setInt32(4, KIND_CODE.microadam, true);
  setUint53(view, 2, m.numel);
  setUint53(view, 4, s.step);
  view.setInt32(24, m.config.window, true);
  view.setInt32(28, m.config.topkBlockSize, true);
  view.setInt32(32, m.config.quantBlockSize, true);
  view.setFloat64(36, m.config.density, true);
  arrays.forEach((a, i) => view.setUint32(44 + 4 * i, a.length, true));
  const bytes = new Uint8Array(words.buffer);
  let offset = 4 * MICROADAM_HEADER_WORDS;
  for (const a of arrays) {
    writeElements(bytes, offset, a);
    offset += paddedBytes(a);
  }
  return words;
}

/** The layout of a MicroAdam state as saved. */
export interface SavedLayout {
  window: number;
  density: number;
  topkBlockSize: number;
  quantBlockSize: number;
}

/** What encodeState wrote, read back without creating a state. */
export type DecodedState =
  | { kind: "microadam"; numel: number; layout: SavedLayout; snapshot: MicroAdamSnapshot }
  | { kind: "adamw"; numel: number; snapshot: { step: number; expAvg: Float32Array; expAvgSq: Float32Array } };

/** Reads the words of one state; `name` names the weight in error messages. */
export function decodeState(words: Int32Array, name: string): DecodedState {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const view = new DataView(words.buffer, words.byteOffset, words.byteLength);
  const fail = (expected: string) => rangeError(name, expected, words);
  if (words.length < ADAMW_HEADER_WORDS) throw fail("an int32 tensor holding a microadam-native optimizer state");
  const version = view.getInt32(0, true);
  if (version !== FORMAT_VERSION) throw fail(`format version ${FORMAT_VERSION} (word 0 is ${version})`);
  const kindCode = view.getInt32(4, true);
  const numel = getUint53(view, 2);
  const step = getUint53(view, 4);
  if (numel < 1 || !Number.isSafeInteger(numel) || !Number.isSafeInteger(step)) throw fail("a positive numel and a valid step");
  if (kindCode === KIND_CODE.adamw) {
    if (words.length !== ADAMW_HEADER_WORDS + 2 * numel) throw fail(`${ADAMW_HEADER_WORDS + 2 * numel} words (an AdamW state of ${numel} elements)`);
    const expAvg = readElements(bytes, 4 * ADAMW_HEADER_WORDS, numel, Float32Array);
    const expAvgSq = readElements(bytes, 4 * (ADAMW_HEADER_WORDS + numel), numel, Float32Array);
    return { kind: "adamw", numel, snapshot: { step, expAvg, expAvgSq } };
  }
  if (kindCode !== KIND_CODE.microadam) throw fail(`kind 1 (MicroAdam) or 2 (AdamW) in word 1 (it is ${kindCode})`);
  if (words.length < MICROADAM_HEADER_WORDS) throw fail("a MicroAdam state header of 16 words");
  const layout: SavedLayout = {
    window: view.getInt32(24, true),
    topkBlockSize: view.getInt32(28, true),
    quantBlockSize: view.getInt32(32, true),
    density: view.getFloat64(36, true),
  };
  const lengths = [0, 1, 2, 3, 4].map((i) => view.getUint32(44 + 4 * i, true));
  const types = [Uint8Array, Uint16Array, Uint16Array, Uint16Array, Uint16Array] as const;
  const expectedWords = MICROADAM_HEADER_WORDS + lengths.reduce((sum, n, i) => sum + Math.ceil((n * types[i].BYTES_PER_ELEMENT) / 4), 0);
  if (words.length !== expectedWords) throw fail(`${expectedWords} words (as its header's buffer lengths say)`);
  let offset = 4 * MICROADAM_HEADER_WORDS;
  const arrays = lengths.map((n, i) => {
    const a = readElements(bytes, offset, n, types[i] as { new (length: number): Uint8Array | Uint16Array; BYTES_PER_ELEMENT: number });
    offset += Math.ceil(a.byteLength / 4) * 4;
    return a;
  });
  const snapshot: MicroAdamSnapshot = {
    step,
    errorCodes: arrays[0] as Uint8Array,
    errorMin: arrays[1] as Uint16Array,
    errorMax: arrays[2] as Uint16Array,
    windowIndices: arrays[3] as Uint16Array,
    windowValues: arrays[4] as Uint16Array,
  };
  return { kind: "microadam", numel, layout, snapshot };
}

/** A native state holding a decoded snapshot (restore checks every length again). */
export function createDecodedState(decoded: DecodedState): MicroAdamState | AdamWState {
  if (decoded.kind === "adamw") {
    const state = createAdamWState({ numel: decoded.numel });
    try {
      state.restore(decoded.snapshot);
    } catch (error) {
      state.dispose();
      throw error;
    }
    return state;
  }
  const state = createMicroAdamState({ numel: decoded.numel, ...decoded.layout });
  try {
    state.restore(decoded.snapshot);
  } catch (error) {
    state.dispose();
    throw error;
  }
  return state;
}
