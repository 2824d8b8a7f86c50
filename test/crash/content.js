// The checkpoints that test/crash/saver.js writes: bytes determined by (writer, generation), so
// a file can be checked whole against the one it claims to be. Chunk 0 starts with a header:
// "CRSH", writer, generation, total bytes (uint32 LE each).
"use strict";

/** The `index`-th chunk of writer's checkpoint number `generation`. */
function chunkOf(writer, generation, index, chunkBytes, totalBytes) {
  const length = Math.min(chunkBytes, totalBytes - index * chunkBytes);
  const chunk = Buffer.allocUnsafe(length);
  let x = (Math.imul(writer, 0x9e3779b1) ^ Math.imul(generation, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) | 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    chunk.writeInt32LE(x | 0, i);
  }
  chunk.fill(0x5a, length - (length % 4));
  if (index === 0) {
    chunk.write("CRSH", 0, "latin1");
    chunk.writeUInt32LE(writer, 4);
    chunk.writeUInt32LE(generation, 8);
    chunk.writeUInt32LE(totalBytes, 12);
  }
  return chunk;
}

function chunkCount(chunkBytes, totalBytes) {
  return Math.ceil(totalBytes / chunkBytes);
}

/**
 * { writer, generation } of a file that is exactly one checkpoint of saver.js; throws, saying
 * what is wrong, for anything else (a torn file, a mix of two, a truncated one).
 */
function identify(bytes, chunkBytes) {
  if (bytes.length < 16 || bytes.toString("latin1", 0, 4) !== "CRSH") throw new Error(`not a test checkpoint (${bytes.length} bytes)`);
  const writer = bytes.readUInt32LE(4);
  const generation = bytes.readUInt32LE(8);
  const totalBytes = bytes.readUInt32LE(12);
  if (totalBytes !== bytes.length) throw new Error(`writer ${writer} generation ${generation}: ${bytes.length} bytes, its header says ${totalBytes}`);
  for (let index = 0, offset = 0; offset < totalBytes; index++, offset += chunkBytes) {
    const expected = chunkOf(writer, generation, index, chunkBytes, totalBytes);
    if (!bytes.subarray(offset, offset + expected.length).equals(expected))
      throw new Error(`writer ${writer} generation ${generation}: chunk ${index} (bytes ${offset}…) is not that checkpoint's`);
  }
  return { writer, generation };
}

module.exports = { chunkOf, chunkCount, identify };
