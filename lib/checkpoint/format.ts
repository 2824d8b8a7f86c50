// The checkpoint container (docs/checkpoint-format.md): a 32-byte header, then sections, each
// with a tag, a length and a CRC-32 over its header and payload, all little-endian. This file
// knows nothing of MicroAdam: records.ts gives the sections their meaning.
import { crc32 } from "zlib";
import { withCode } from "../validate";

/** "\x89MADAM\r\n": the high byte and the CR LF catch 7-bit and newline-translating transfers (as PNG's do). */
export const CHECKPOINT_MAGIC: readonly number[] = [0x89, 0x4d, 0x41, 0x44, 0x41, 0x4d, 0x0d, 0x0a];
export const FORMAT_VERSION = 1;
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

/** The bytes of a checkpoint as a list of chunks, in order (write them one after another). */
export function encodeCheckpoint(kind: CheckpointKind, sections: readonly SectionParts[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let total = HEADER_BYTES;
  for (const section of sections) {
    const payloadLength = section.parts.reduce((sum, p) => sum + p.byteLength, 0);
    const header = Buffer.alloc(SECTION_HEADER_BYTES);
    header.write(section.tag, 0, "latin1");
    header.writeUInt32LE(0, 4);
    header.writeBigUInt64LE(BigInt(payloadLength), 8);
    let crc = crc32(header);
    for (const part of section.parts) crc = crc32(part, crc);
    const trailer = Buffer.alloc(SECTION_CRC_BYTES);
    trailer.writeUInt32LE(crc, 0);
    chunks.push(header, ...section.parts, trailer);
    total += SECTION_HEADER_BYTES + payloadLength + SECTION_CRC_BYTES;
  }
  const header = Buffer.alloc(HEADER_BYTES);
  Buffer.from(CHECKPOINT_MAGIC).copy(header, 0);
  header.writeUInt16LE(FORMAT_VERSION, 8);
  header.writeUInt16LE(kind, 10);
  header.writeUInt32LE(sections.length, 12);
  header.writeBigUInt64LE(BigInt(total), 16);
  header.writeUInt32LE(0, 24);
  header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
  return [header, ...chunks];
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
 * Checks the header and every section's CRC-32 and returns the sections. Nothing is
 * allocated in proportion to a length read from the file before it is checked against the
 * bytes actually present, so a damaged length cannot ask for gigabytes.
 */
export function decodeCheckpoint(bytes: Uint8Array, where: string, options: DecodeOptions = {}): DecodedCheckpoint {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length < HEADER_BYTES)
    throw checkpointError(where, `too short to be a checkpoint: ${data.length} bytes, the header alone is ${HEADER_BYTES}`);
  if (!CHECKPOINT_MAGIC.every((b, i) => data[i] === b))
    throw checkpointError(where, "not a microadam-native checkpoint (the first 8 bytes are not its magic number)");
  if (crc32(data.subarray(0, 28)) !== data.readUInt32LE(28))
    throw checkpointError(where, "the header is damaged (its CRC-32 does not match)");
  const version = data.readUInt16LE(8);
  if (version !== FORMAT_VERSION)
    throw checkpointError(where, `format version ${version} is not supported (this build reads version ${FORMAT_VERSION})`);
  const kind = data.readUInt16LE(10);
  if (!CHECKPOINT_KINDS.includes(kind)) throw checkpointError(where, `unknown checkpoint kind ${kind}`);
  if (data.readUInt32LE(24) !== 0) throw checkpointError(where, "reserved header bytes 24-27 are not zero");
  const sectionCount = data.readUInt32LE(12);
  const fileLength = readSafeU64(data, 16, where, "the file length");
  if (data.length < fileLength)
    throw checkpointError(where, `truncated: the header says ${fileLength} bytes, there are ${data.length}`);
  if (data.length > fileLength && !(options.wordPadded && isWordPadding(data, fileLength)))
    throw checkpointError(
      where,
      options.wordPadded
        ? `${data.length - fileLength} bytes after the end of the checkpoint (${fileLength} bytes) are not its padding to whole words (at most 3 zero bytes)`
        : `${data.length - fileLength} unexpected bytes after the end of the checkpoint (${fileLength} bytes)`,
    );

  const sections: DecodedSection[] = [];
  let offset = HEADER_BYTES;
  for (let i = 0; i < sectionCount; i++) {
    const name = `section ${i}`;
    if (fileLength - offset < SECTION_HEADER_BYTES + SECTION_CRC_BYTES)
      throw checkpointError(where, `${name} is cut off: ${fileLength - offset} bytes remain`);
    const length = readSafeU64(data, offset + 8, where, `${name}'s length`);
    const end = offset + SECTION_HEADER_BYTES + length;
    if (length > fileLength - offset - SECTION_HEADER_BYTES - SECTION_CRC_BYTES)
      throw checkpointError(where, `${name} claims ${length} bytes but only ${fileLength - offset - SECTION_HEADER_BYTES - SECTION_CRC_BYTES} remain`);
    if (crc32(data.subarray(offset, end)) !== data.readUInt32LE(end))
      throw checkpointError(where, `${name} is damaged (its CRC-32 does not match)`);
    const tag = data.toString("latin1", offset, offset + 4);
    if (!SECTION_TAGS.includes(tag)) throw checkpointError(where, `${name} has the unknown tag ${JSON.stringify(tag)}`);
    if (data.readUInt32LE(offset + 4) !== 0) throw checkpointError(where, `${name} has non-zero flags`);
    sections.push({ tag: tag as SectionTag, payload: data.subarray(offset + SECTION_HEADER_BYTES, end) });
    offset = end + SECTION_CRC_BYTES;
  }
  if (offset !== fileLength)
    throw checkpointError(where, `${fileLength - offset} bytes after the last of ${sectionCount} sections`);
  return { kind: kind as CheckpointKind, sections };
}

/** After the checkpoint's `length` bytes: zeros up to the next multiple of 4, and nothing more. */
function isWordPadding(data: Buffer, length: number): boolean {
  return data.length % 4 === 0 && data.length - length < 4 && data.subarray(length).every((b) => b === 0);
}
