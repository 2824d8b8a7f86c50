// The checkpoint container (docs/checkpoint-format.md): a 32-byte header, then sections, each
// with a tag, a length and a CRC-32 over its header and payload, all little-endian. This file
// knows nothing of MicroAdam: records.ts gives the sections their meaning.
import { crc32 } from "zlib";
import { withCode } from "../validate";

/** "\x89MADAM\r\n": the high byte and the CR LF catch 7-bit and newline-translating transfers (as PNG's do). */
export const CHECKPOINT_MAGIC: readonly number[] = [0x89, 0x4d, 0x41, 0x44, 0x41, 0x4d, 0x0d, 0x0a];
/**
 * The version a file is written with: 1, except a MicroAdam optimizer (kind 2) holding AdamW
 * states of tensors under its denseBelow (ADMW sections among its tensors), which is 2. Files of
 * version 1 are byte for byte what 0.1 wrote, and 0.1 refuses version 2 by name.
 */
export const FORMAT_VERSION = 1;
export const DENSE_OPTIMIZER_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [FORMAT_VERSION, DENSE_OPTIMIZER_VERSION];
export const HEADER_BYTES = 32;
/** tag (4), flags (4), payload length (8). */
export const SECTION_HEADER_BYTES = 16;
export const SECTION_CRC_BYTES = 4;

/** What a checkpoint holds: one MicroAdam state, a whole MicroAdam optimizer, or one AdamW state. */
export const CheckpointKind = { State: 1, Optimizer: 2, AdamWState: 3 } as const;
export type CheckpointKind = (typeof CheckpointKind)[keyof typeof CheckpointKind];
const CHECKPOINT_KINDS: readonly number[] = Object.values(CheckpointKind);

export type SectionTag = "LAYT" | "STAT" | "OPTM" | "ADMW";
const SECTION_TAGS: readonly string[] = ["LAYT", "STAT", "OPTM", "ADMW"];

/** A section to write: its payload may come in several parts (no copy of big arrays). */
export interface SectionParts {
  tag: SectionTag;
  parts: Uint8Array[];
}

export interface DecodedSection {
  tag: SectionTag;
  /** A view into the checkpoint's bytes. */
  payload: Uint8Array;
}

/** A damaged, foreign or unsupported checkpoint. */
export function checkpointError(where: string, message: string): Error {
  return withCode(new Error(`${where}: ${message}`), "ERR_MICROADAM_CHECKPOINT");
}

/** A section header: tag, flags (0), payload length. Its CRC-32 starts the section's CRC. */
export function sectionHeader(tag: SectionTag, payloadLength: number): Buffer {
  const header = Buffer.alloc(SECTION_HEADER_BYTES);
  header.write(tag, 0, "latin1");
  header.writeUInt32LE(0, 4);
  header.writeBigUInt64LE(BigInt(payloadLength), 8);
  return header;
}

/** The 32-byte file header of a checkpoint of `total` bytes. */
export function checkpointHeader(kind: CheckpointKind, sectionCount: number, total: number, version = FORMAT_VERSION): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  Buffer.from(CHECKPOINT_MAGIC).copy(header, 0);
  header.writeUInt16LE(version, 8);
  header.writeUInt16LE(kind, 10);
  header.writeUInt32LE(sectionCount, 12);
  header.writeBigUInt64LE(BigInt(total), 16);
  header.writeUInt32LE(0, 24);
  header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
  return header;
}

/** The total length of a checkpoint whose sections have these payload lengths. */
export function checkpointLength(payloadLengths: readonly number[]): number {
  return payloadLengths.reduce((sum, n) => sum + SECTION_HEADER_BYTES + n + SECTION_CRC_BYTES, HEADER_BYTES);
}

/** The bytes of a checkpoint as a list of chunks, in order (write them one after another). */
export function encodeCheckpoint(kind: CheckpointKind, sections: readonly SectionParts[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const lengths: number[] = [];
  for (const section of sections) {
    const payloadLength = section.parts.reduce((sum, p) => sum + p.byteLength, 0);
    const header = sectionHeader(section.tag, payloadLength);
    let crc = crc32(header);
    for (const part of section.parts) crc = crc32(part, crc);
    const trailer = Buffer.alloc(SECTION_CRC_BYTES);
    trailer.writeUInt32LE(crc, 0);
    chunks.push(header, ...section.parts, trailer);
    lengths.push(payloadLength);
  }
  return [checkpointHeader(kind, sections.length, checkpointLength(lengths)), ...chunks];
}

/** Reads a u64 that must be a safe integer (every length and count in the format is). */
export function readSafeU64(view: Buffer, offset: number, where: string, field: string): number {
  const value = view.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw checkpointError(where, `${field} ${value} is larger than 2^53 - 1`);
  return Number(value);
}

/** A checkpoint's kind and sections, as decodeCheckpoint found them. */
export interface DecodedCheckpoint {
  kind: CheckpointKind;
  sections: DecodedSection[];
}

export interface DecodeOptions {
  /**
   * The checkpoint fills whole 4-byte words: up to 3 zero bytes may follow its end (a tfjs
   * optimizer weight carries a checkpoint as int32 data). The checkpoint's own length is the
   * header's, bytes 16-23.
   */
  wordPadded?: boolean;
}

/**
 * What the parser asks its driver for: `length` bytes at `position` of the checkpoint. The answer
 * may be a view of memory the driver reuses for its next answer, unless `keep` is set.
 */
export interface ReadRequest {
  position: number;
  length: number;
  keep?: boolean;
}

/** How a section's payload is taken: whole (after its CRC is checked), or streamed in chunks. */
export type SectionSink =
  | { whole(section: DecodedSection): void }
  | {
      /** A chunk of the payload at `offset`, not yet verified: write it where nothing live sees it. */
      chunk(bytes: Uint8Array, offset: number): void;
      /** The payload's CRC-32 matched: what the chunks built may now be used. */
      verified(): void;
    };

/** What a caller does with each part of a checkpoint, in file order. */
export interface CheckpointVisitor {
  header(kind: CheckpointKind, sectionCount: number, version: number): void;
  /** Called with each section's header (not yet verified); the sink takes its payload. */
  section(index: number, tag: SectionTag, length: number): SectionSink;
}

/** Payloads taken whole are at most this large (the largest, OPTM, is 56 bytes a param group). */
const WHOLE_SECTION_LIMIT = 256 * 2 ** 20;

/**
 * The one checkpoint parser (docs/checkpoint-format.md), as a coroutine: it yields the reads it
 * needs and its driver (file or memory, sync or async: lib/checkpoint/stream.ts) answers them, so
 * that a checkpoint of any size is checked in bounded chunks. It checks the header, every
 * section's structure and CRC-32, and the bytes after the end; a payload reaches its sink's
 * `verified`/`whole` only once its CRC matched. Nothing is allocated in proportion to a length
 * read from the file before that length is checked against the bytes present, so a damaged length
 * cannot ask for gigabytes. `size` is the byte count of the source.
 */
export function* parseCheckpoint(
  where: string,
  size: number,
  visitor: CheckpointVisitor,
  chunkBytes: number,
  options: DecodeOptions = {},
): Generator<ReadRequest, void, Uint8Array> {
  if (size < HEADER_BYTES) throw checkpointError(where, `too short to be a checkpoint: ${size} bytes, the header alone is ${HEADER_BYTES}`);
  const header = asBuffer(yield { position: 0, length: HEADER_BYTES });
  if (!CHECKPOINT_MAGIC.every((b, i) => header[i] === b))
    throw checkpointError(where, "not a microadam-native checkpoint (the first 8 bytes are not its magic number)");
  if (crc32(header.subarray(0, 28)) !== header.readUInt32LE(28)) throw checkpointError(where, "the header is damaged (its CRC-32 does not match)");
  const version = header.readUInt16LE(8);
  if (!READABLE_VERSIONS.includes(version))
    throw checkpointError(where, `format version ${version} is not supported (this build reads versions ${READABLE_VERSIONS.join(" and ")})`);
  const kind = header.readUInt16LE(10);
  if (!CHECKPOINT_KINDS.includes(kind)) throw checkpointError(where, `unknown checkpoint kind ${kind}`);
  if (version === DENSE_OPTIMIZER_VERSION && kind !== CheckpointKind.Optimizer)
    throw checkpointError(where, `format version ${version} is for optimizers (kind ${CheckpointKind.Optimizer}) only, this is kind ${kind}`);
  if (header.readUInt32LE(24) !== 0) throw checkpointError(where, "reserved header bytes 24-27 are not zero");
  const sectionCount = header.readUInt32LE(12);
  const fileLength = readSafeU64(header, 16, where, "the file length");
  if (size < fileLength) throw checkpointError(where, `truncated: the header says ${fileLength} bytes, there are ${size}`);
  if (size > fileLength) {
    const extra = size - fileLength;
    const padding = options.wordPadded && size % 4 === 0 && extra < 4 ? asBuffer(yield { position: fileLength, length: extra }) : undefined;
    if (!padding || !padding.every((b) => b === 0))
      throw checkpointError(
        where,
        options.wordPadded
          ? `${extra} bytes after the end of the checkpoint (${fileLength} bytes) are not its padding to whole words (at most 3 zero bytes)`
          : `${extra} unexpected bytes after the end of the checkpoint (${fileLength} bytes)`,
      );
  }
  visitor.header(kind as CheckpointKind, sectionCount, version);

  let offset = HEADER_BYTES;
  for (let i = 0; i < sectionCount; i++) {
    const name = `section ${i}`;
    if (fileLength - offset < SECTION_HEADER_BYTES + SECTION_CRC_BYTES) throw checkpointError(where, `${name} is cut off: ${fileLength - offset} bytes remain`);
    const head = Buffer.from(yield { position: offset, length: SECTION_HEADER_BYTES });
    const length = readSafeU64(head, 8, where, `${name}'s length`);
    const remaining = fileLength - offset - SECTION_HEADER_BYTES - SECTION_CRC_BYTES;
    if (length > remaining) throw checkpointError(where, `${name} claims ${length} bytes but only ${remaining} remain`);
    const tag = head.toString("latin1", 0, 4);
    const payloadAt = offset + SECTION_HEADER_BYTES;
    const end = payloadAt + length;
    let crc = crc32(head);
    const known = SECTION_TAGS.includes(tag) && head.readUInt32LE(4) === 0;
    // A section this build cannot take is refused by name, but only once its CRC says it is what
    // was written (a damaged tag reads as damage).
    const sink = known ? visitor.section(i, tag as SectionTag, length) : undefined;
    let whole: Uint8Array | undefined;
    if (sink && "whole" in sink) {
      if (length > WHOLE_SECTION_LIMIT) throw checkpointError(where, `${name} (${tag}) claims ${length} bytes, more than such a section can hold`);
      whole = yield { position: payloadAt, length, keep: true };
      crc = crc32(whole, crc);
    } else
      for (let at = 0; at < length; ) {
        const n = Math.min(chunkBytes, length - at);
        const bytes = yield { position: payloadAt + at, length: n };
        crc = crc32(bytes, crc);
        if (sink && "chunk" in sink) sink.chunk(bytes, at);
        at += n;
      }
    const trailer = asBuffer(yield { position: end, length: SECTION_CRC_BYTES });
    if (crc !== trailer.readUInt32LE(0)) throw checkpointError(where, `${name} is damaged (its CRC-32 does not match)`);
    if (!SECTION_TAGS.includes(tag)) throw checkpointError(where, `${name} has the unknown tag ${JSON.stringify(tag)}`);
    if (!known) throw checkpointError(where, `${name} has non-zero flags`);
    if (whole !== undefined && sink && "whole" in sink) sink.whole({ tag: tag as SectionTag, payload: whole });
    else if (sink && "verified" in sink) sink.verified();
    offset = end + SECTION_CRC_BYTES;
  }
  if (offset !== fileLength) throw checkpointError(where, `${fileLength - offset} bytes after the last of ${sectionCount} sections`);
}

/** Runs the parser over bytes in memory (every answer a view, no copy). */
export function parseInMemory(bytes: Uint8Array, where: string, visitor: CheckpointVisitor, options: DecodeOptions = {}): void {
  const parser = parseCheckpoint(where, bytes.byteLength, visitor, Number.MAX_SAFE_INTEGER, options);
  for (let step = parser.next(); !step.done; ) {
    const { position, length } = step.value;
    step = parser.next(bytes.subarray(position, position + length));
  }
}

/** Checks the header and every section's CRC-32 and returns the sections, whole (bytes in memory). */
export function decodeCheckpoint(bytes: Uint8Array, where: string, options: DecodeOptions = {}): DecodedCheckpoint {
  let kind = 0 as CheckpointKind;
  const sections: DecodedSection[] = [];
  parseInMemory(
    bytes,
    where,
    {
      header: (k) => (kind = k),
      section: () => ({ whole: (section) => sections.push(section) }),
    },
    options,
  );
  return { kind, sections };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
