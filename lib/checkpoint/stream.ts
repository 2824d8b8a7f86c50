// Checkpoints streamed a chunk at a time (docs/checkpoint-format.md, "Streaming"): a save reads
// each state buffer from the native state in chunks and writes them as it goes; a load parses the
// source in chunks (format.ts, parseCheckpoint) straight into fresh CPU staging states. Neither
// holds more than one chunk of a state in JavaScript, and no single call's size limit (a Buffer's
// 4 GiB, a read's or write's 2 GiB) is ever reached.
//
// This file has the drivers: the chunks of a checkpoint to write, the file and memory sources a
// parse reads from (sync and async), and the staging of a state's STAT section.
import * as fs from "fs";
import { crc32 } from "zlib";
import { binding, type NativeState } from "../binding";
import { asContentError } from "./errors";
import { openAtomicFile, openAtomicFileAsync } from "./file";
import {
  checkpointError,
  checkpointHeader,
  checkpointLength,
  parseCheckpoint,
  readSafeU64,
  sectionHeader,
  SECTION_CRC_BYTES,
  CheckpointKind,
  DENSE_OPTIMIZER_VERSION,
  FORMAT_VERSION,
  type CheckpointVisitor,
  type DecodeOptions,
  type ReadRequest,
  type SectionSink,
  type SectionTag,
} from "./format";
import type { LayoutRecord } from "./records";

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let chunkBytes = 16 * 2 ** 20;

/** The bytes a save or load moves at a time (16 MiB). */
export function checkpointChunkBytes(): number {
  return chunkBytes;
}

/**
 * @internal Sets the chunk size (a multiple of 4, at least 4) and returns the previous one: tests
 * use a few bytes so that every path crosses chunk boundaries.
 */
export function setCheckpointChunkBytes(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 4 || bytes % 4 !== 0) throw new RangeError(`chunk size must be a multiple of 4, at least 4, received ${bytes}`);
  const previous = chunkBytes;
  chunkBytes = bytes;
  return previous;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** The five state buffers in checkpoint order (csrc/core/state.h, StateBufferId), with their element size. */
const STATE_BUFFERS = [
  { name: "errorCodes", elementBytes: 1 },
  { name: "errorMin", elementBytes: 2 },
  { name: "errorMax", elementBytes: 2 },
  { name: "windowIndices", elementBytes: 2 },
  { name: "windowValues", elementBytes: 2 },
] as const;

/** A range of bytes a section's payload takes from a native state's buffer. */
interface StateBufferPiece {
  state: NativeState;
  buffer: number;
  bytes: number;
  elementBytes: 1 | 2;
}

/** A section's payload: bytes in memory, and state buffers read when their turn comes. */
export type Piece = Uint8Array | StateBufferPiece;

export interface SectionPlan {
  tag: SectionTag;
  pieces: Piece[];
}

/** Byte lengths of a state's five buffers, from its layout. */
export function stateBufferBytes(layout: Pick<LayoutRecord, "numel" | "bucketCount" | "window" | "rowLength">): number[] {
  const window = 2 * layout.window * layout.rowLength;
  return [Math.ceil(layout.numel / 2), 2 * layout.bucketCount, 2 * layout.bucketCount, window, window];
}

/** The STAT payload of a native state: its step counter, then its five buffers straight from native memory. */
export function statePieces(state: NativeState, layout: LayoutRecord): Piece[] {
  const step = Buffer.alloc(8);
  step.writeBigUInt64LE(BigInt(state.step), 0);
  const sizes = stateBufferBytes(layout);
  return [step, ...STATE_BUFFERS.map((b, i) => ({ state, buffer: i, bytes: sizes[i], elementBytes: b.elementBytes }))];
}

function pieceLength(p: Piece): number {
  return p instanceof Uint8Array ? p.byteLength : p.bytes;
}

/**
 * The checkpoint's bytes in order. A state buffer comes a chunk at a time through one reused
 * buffer: each yielded chunk is valid until the next is asked for.
 */
export function* checkpointChunks(kind: CheckpointKind, sections: readonly SectionPlan[]): Generator<Uint8Array, void, undefined> {
  const lengths = sections.map((s) => s.pieces.reduce((sum, p) => sum + pieceLength(p), 0));
  const dense = kind === CheckpointKind.Optimizer && sections.some((s) => s.tag === "ADMW");
  yield checkpointHeader(kind, sections.length, checkpointLength(lengths), dense ? DENSE_OPTIMIZER_VERSION : FORMAT_VERSION);
  // One chunk, or less for a small state: a small checkpoint should not cost a 16 MiB allocation.
  const largest = Math.max(0, ...sections.flatMap((s) => s.pieces.map((p) => (p instanceof Uint8Array ? 0 : p.bytes))));
  let scratch: Buffer | undefined;
  for (const [i, section] of sections.entries()) {
    const head = sectionHeader(section.tag, lengths[i]);
    let crc = crc32(head);
    yield head;
    for (const piece of section.pieces) {
      if (piece instanceof Uint8Array) {
        crc = crc32(piece, crc);
        yield piece;
        continue;
      }
      for (let at = 0; at < piece.bytes; ) {
        const n = Math.min(chunkBytes, piece.bytes - at);
        scratch ??= Buffer.allocUnsafe(Math.min(chunkBytes, largest));
        const chunk = scratch.subarray(0, n);
        piece.state.readBytes(piece.buffer, at, chunk);
        if (!littleEndianHost && piece.elementBytes === 2) chunk.swap16(); // the format is little-endian
        crc = crc32(chunk, crc);
        yield chunk;
        at += n;
      }
    }
    const trailer = Buffer.alloc(SECTION_CRC_BYTES);
    trailer.writeUInt32LE(crc, 0);
    yield trailer;
  }
}

/** Writes a checkpoint to `file` atomically (file.ts), chunk by chunk. */
export function writeCheckpointFile(file: string, kind: CheckpointKind, sections: readonly SectionPlan[]): void {
  const writer = openAtomicFile(file);
  try {
    for (const chunk of checkpointChunks(kind, sections)) writer.write(chunk);
  } catch (error) {
    writer.abort();
    throw error;
  }
  writer.commit();
}

/** The same with every write off the event loop (the chunks are still read from native memory on it, one at a time). */
export async function writeCheckpointFileAsync(file: string, kind: CheckpointKind, sections: readonly SectionPlan[]): Promise<void> {
  const writer = await openAtomicFileAsync(file);
  try {
    for (const chunk of checkpointChunks(kind, sections)) await writer.write(chunk);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.commit();
}

/** The checkpoint in one Buffer (at most buffer.constants.MAX_LENGTH bytes). */
export function checkpointBuffer(kind: CheckpointKind, sections: readonly SectionPlan[]): Buffer {
  let out: Buffer | undefined;
  let offset = 0;
  for (const chunk of checkpointChunks(kind, sections)) {
    // The first chunk is the header, which holds the total length (bytes 16-23).
    out ??= Buffer.allocUnsafe(Number(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).readBigUInt64LE(16)));
    out.set(chunk, offset); // chunks reuse one buffer: copied as they come
    offset += chunk.byteLength;
  }
  return out!;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Where a checkpoint is parsed from. */
export type CheckpointSource = { file: string } | { bytes: Uint8Array };

type Parser = Generator<ReadRequest, void, Uint8Array>;

function parserFor(where: string, size: number, visitor: CheckpointVisitor, options: DecodeOptions): Parser {
  return parseCheckpoint(where, size, visitor, chunkBytes, options);
}

/** Parses `source`, answering the parser's reads synchronously. */
export function parseSource(source: CheckpointSource, where: string, visitor: CheckpointVisitor, options: DecodeOptions = {}): void {
  if ("bytes" in source) {
    const { bytes } = source;
    drive(parserFor(where, bytes.byteLength, visitor, options), ({ position, length }) => bytes.subarray(position, position + length));
    return;
  }
  const fd = fs.openSync(source.file, "r");
  try {
    const reads = new FileReads(where, fs.fstatSync(fd).size);
    drive(parserFor(where, reads.size, visitor, options), (request) => reads.answer(request, (buffer, offset) => fs.readSync(fd, buffer, 0, buffer.byteLength, offset)));
  } finally {
    fs.closeSync(fd);
  }
}

/** The same with every file read off the event loop. */
export async function parseSourceAsync(source: CheckpointSource, where: string, visitor: CheckpointVisitor, options: DecodeOptions = {}): Promise<void> {
  if ("bytes" in source) return parseSource(source, where, visitor, options);
  const handle = await fs.promises.open(source.file, "r");
  try {
    const reads = new FileReads(where, (await handle.stat()).size);
    const parser = parserFor(where, reads.size, visitor, options);
    for (let step = parser.next(); !step.done; ) {
      const request = step.value;
      const buffer = reads.bufferFor(request);
      for (let done = 0; done < buffer.byteLength; ) {
        const { bytesRead } = await handle.read(buffer, done, buffer.byteLength - done, request.position + done);
        done += reads.progress(bytesRead);
      }
      step = parser.next(buffer);
    }
  } finally {
    await handle.close();
  }
}

function drive(parser: Parser, answer: (request: ReadRequest) => Uint8Array): void {
  for (let step = parser.next(); !step.done; ) step = parser.next(answer(step.value));
}

/** Reads from a file of `size` bytes into one reused chunk buffer (a fresh one where the parser keeps the answer). */
class FileReads {
  private scratch: Buffer | undefined;
  constructor(
    private readonly where: string,
    readonly size: number,
  ) {}

  bufferFor({ length, keep }: ReadRequest): Buffer {
    if (keep || length > chunkBytes) return Buffer.allocUnsafe(length);
    this.scratch ??= Buffer.allocUnsafe(Math.min(chunkBytes, this.size)); // no file needs more than its size
    return this.scratch.subarray(0, length);
  }

  /** A read that returned nothing means the file shrank while it was read. */
  progress(bytesRead: number): number {
    if (bytesRead === 0) throw checkpointError(this.where, "the file became shorter while it was read");
    return bytesRead;
  }

  answer(request: ReadRequest, read: (into: Buffer, position: number) => number): Buffer {
    const buffer = this.bufferFor(request);
    for (let done = 0; done < buffer.byteLength; ) done += this.progress(read(buffer.subarray(done), request.position + done));
    return buffer;
  }
}

// ---------------------------------------------------------------------------------------------
// A STAT section streamed into a staging state

/** A fresh CPU state of `layout`, for a checkpoint to be streamed into (zero pages: costs nothing until written). */
export function createStaging(layout: LayoutRecord): NativeState {
  const { numel, window, density, topkBlockSize, quantBlockSize } = layout;
  return new binding.NativeState({ numel, window, density, topkBlockSize, quantBlockSize });
}

/** A STAT section's length must follow from its layout. */
export function checkStateLength(layout: LayoutRecord, length: number, where: string): void {
  const expected = 8 + stateBufferBytes(layout).reduce((a, b) => a + b, 0);
  if (length !== expected) throw checkpointError(where, `its STAT section has ${length} bytes, its layout needs ${expected}`);
}

/**
 * The sink of a STAT section whose state has `layout`: its step counter, then each buffer's bytes
 * written into `staging` as the chunks come. Once the CRC matched, the native checks of restore()
 * run on the staged buffers (window indices inside their blocks, the padding nibble).
 */
export function stateSink(staging: NativeState, layout: LayoutRecord, where: string): SectionSink {
  const sizes = [8, ...stateBufferBytes(layout)];
  const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const step = Buffer.alloc(8);
  let carried: number | undefined; // big-endian hosts: the first byte of an element split between chunks
  return {
    chunk(bytes, offset) {
      // The chunk may cross from one buffer into the next.
      for (let i = 0; i < sizes.length; i++) {
        const from = Math.max(offset, starts[i]);
        const to = Math.min(offset + bytes.byteLength, starts[i] + sizes[i]);
        if (from >= to) continue;
        const part = bytes.subarray(from - offset, to - offset);
        const at = from - starts[i];
        if (i === 0) step.set(part, from);
        else if (littleEndianHost || STATE_BUFFERS[i - 1].elementBytes === 1) staging.writeBytes(i - 1, at, part);
        else {
          // Whole 16-bit elements only, swapped from the file's little-endian order.
          const aligned = Buffer.from(at % 2 === 1 ? Buffer.concat([Buffer.from([carried ?? 0]), part]) : part);
          const start = at - (at % 2);
          const whole = aligned.byteLength - (aligned.byteLength % 2);
          carried = whole < aligned.byteLength ? aligned[whole] : undefined;
          if (whole > 0) staging.writeBytes(i - 1, start, aligned.subarray(0, whole).swap16());
        }
      }
    },
    verified() {
      const counter = readSafeU64(step, 0, where, "the step counter");
      try {
        staging.checkContents(counter);
      } catch (error) {
        throw asContentError(error, where);
      }
    },
  };
}
