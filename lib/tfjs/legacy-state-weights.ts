// The optimizer weights that microadam-native 0.1 saved, converted to what it saves now (a
// checkpoint, lib/tfjs/state-weights.ts), so that models saved with 0.1 keep loading. This is
// 0.1's decoder, kept as it was but for its output; nothing writes this format any more.
//
// 0.1's layout: 32-bit words, every number little-endian whatever the platform.
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
//
// A checkpoint starts with the byte 0x89, so its first word is never 1: the two cannot be confused.
import { CheckpointKind, encodeCheckpoint } from "../checkpoint/format";
import { encodeAdamWParts, encodeLayout, encodeStateParts, type LayoutRecord } from "../checkpoint/records";
import { rangeError } from "../validate";

const LEGACY_VERSION = 1;
const KIND_MICROADAM = 1;
const KIND_ADAMW = 2;
const MICROADAM_HEADER_WORDS = 16;
const ADAMW_HEADER_WORDS = 6;
const TWO_32 = 2 ** 32;

/** True when the words' bytes start with 0.1's version word (1, little-endian). */
export function isLegacyStateWeights(words: Int32Array): boolean {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, Math.min(4, words.byteLength));
  return bytes.length === 4 && bytes[0] === LEGACY_VERSION && bytes[1] === 0 && bytes[2] === 0 && bytes[3] === 0;
}

function getUint53(view: DataView, word: number): number {
  return view.getUint32(4 * word, true) + view.getUint32(4 * word + 4, true) * TWO_32;
}

/** `length` elements of `type` read little-endian from `bytes` at `offset`, into a new array. */
function readElements<T extends Uint8Array | Uint16Array | Float32Array>(
  view: DataView,
  offset: number,
  length: number,
  type: { new (length: number): T; BYTES_PER_ELEMENT: number },
): T {
  const out = new type(length);
  if (type.BYTES_PER_ELEMENT === 1) for (let i = 0; i < length; i++) out[i] = view.getUint8(offset + i);
  else if (type.BYTES_PER_ELEMENT === 2) for (let i = 0; i < length; i++) out[i] = view.getUint16(offset + 2 * i, true);
  else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < length; i++) bits[i] = view.getUint32(offset + 4 * i, true);
  }
  return out;
}

/**
 * The checkpoint (kind 1 for MicroAdam, kind 3 for AdamW) holding the state that 0.1 wrote as
 * the int32 data `weight`. Throws a RangeError naming the weight `name` where 0.1's reader did,
 * with 0.1's words; the checkpoint is then checked like any other (layout, sizes, content).
 */
export function legacyStateWeightsToCheckpoint(weight: Int32Array, name: string): Uint8Array {
  const view = new DataView(weight.buffer, weight.byteOffset, weight.byteLength);
  const words = weight.length;
  const fail = (expected: string) => rangeError(name, expected, weight);
  if (words < ADAMW_HEADER_WORDS) throw fail("an int32 tensor holding a microadam-native optimizer state");
  const version = view.getInt32(0, true);
  if (version !== LEGACY_VERSION) throw fail(`format version ${LEGACY_VERSION} (word 0 is ${version})`);
  const kindCode = view.getInt32(4, true);
  const numel = getUint53(view, 2);
  const step = getUint53(view, 4);
  if (numel < 1 || !Number.isSafeInteger(numel) || !Number.isSafeInteger(step)) throw fail("a positive numel and a valid step");

  if (kindCode === KIND_ADAMW) {
    if (words !== ADAMW_HEADER_WORDS + 2 * numel) throw fail(`${ADAMW_HEADER_WORDS + 2 * numel} words (an AdamW state of ${numel} elements)`);
    const expAvg = readElements(view, 4 * ADAMW_HEADER_WORDS, numel, Float32Array);
    const expAvgSq = readElements(view, 4 * (ADAMW_HEADER_WORDS + numel), numel, Float32Array);
    return Buffer.concat(encodeCheckpoint(CheckpointKind.AdamWState, [{ tag: "ADMW", parts: encodeAdamWParts(numel, { step, expAvg, expAvgSq }) }]));
  }
  if (kindCode !== KIND_MICROADAM) throw fail(`kind 1 (MicroAdam) or 2 (AdamW) in word 1 (it is ${kindCode})`);
  if (words < MICROADAM_HEADER_WORDS) throw fail("a MicroAdam state header of 16 words");
  const window = view.getUint32(24, true);
  const topkBlockSize = view.getUint32(28, true);
  const quantBlockSize = view.getUint32(32, true);
  const density = view.getFloat64(36, true);
  const lengths = [0, 1, 2, 3, 4].map((i) => view.getUint32(44 + 4 * i, true));
  const types = [Uint8Array, Uint16Array, Uint16Array, Uint16Array, Uint16Array] as const;
  const expectedWords = MICROADAM_HEADER_WORDS + lengths.reduce((sum, n, i) => sum + Math.ceil((n * types[i].BYTES_PER_ELEMENT) / 4), 0);
  if (words !== expectedWords) throw fail(`${expectedWords} words (as its header's buffer lengths say)`);
  if (window < 1 || topkBlockSize < 1 || quantBlockSize < 1)
    throw fail(`a layout without zeros (window ${window}, topkBlockSize ${topkBlockSize}, quantBlockSize ${quantBlockSize})`);

  // 0.1 recorded the buffers' lengths; a checkpoint records the counts they follow from, and
  // each buffer must have its own length (the STAT section only has their sum).
  const layout: LayoutRecord = {
    numel,
    window,
    density,
    topkBlockSize,
    quantBlockSize,
    blockCount: Math.ceil(numel / topkBlockSize),
    bucketCount: Math.ceil(numel / quantBlockSize),
    rowLength: lengths[3] / window,
  };
  const expected = [Math.ceil(numel / 2), layout.bucketCount, layout.bucketCount, window * layout.rowLength, window * layout.rowLength];
  if (!Number.isInteger(layout.rowLength) || lengths.some((n, i) => n !== expected[i]))
    throw fail(`buffer lengths that fit its layout (numel ${numel}, window ${window}, quantBlockSize ${quantBlockSize}), not ${lengths.join(", ")}`);
  let offset = 4 * MICROADAM_HEADER_WORDS;
  const [errorCodes, errorMin, errorMax, windowIndices, windowValues] = lengths.map((n, i) => {
    const array = readElements(view, offset, n, types[i] as { new (length: number): Uint8Array | Uint16Array; BYTES_PER_ELEMENT: number });
    offset += Math.ceil(array.byteLength / 4) * 4;
    return array;
  });
  const snapshot = {
    step,
    errorCodes: errorCodes as Uint8Array,
    errorMin: errorMin as Uint16Array,
    errorMax: errorMax as Uint16Array,
    windowIndices: windowIndices as Uint16Array,
    windowValues: windowValues as Uint16Array,
  };
  return Buffer.concat(
    encodeCheckpoint(CheckpointKind.State, [
      { tag: "LAYT", parts: [encodeLayout(layout)] },
      { tag: "STAT", parts: encodeStateParts(snapshot) },
    ]),
  );
}
