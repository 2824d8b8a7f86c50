// Checkpoint files on disk. A save writes a temporary file beside the target, fsyncs it,
// renames it over the target and fsyncs the directory: a crash at any moment leaves either the
// previous checkpoint or the new one, never a mix.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { constants as bufferConstants } from "buffer";
import { checkpointError } from "./format";

/** Writes `chunks` to `file` atomically (see above). On any error the target is untouched. */
export function writeFileAtomic(file: string, chunks: readonly Uint8Array[]): void {
  const target = path.resolve(file);
  const directory = path.dirname(target);
  // Same directory, so the rename cannot cross file systems; the name is cut to stay under NAME_MAX.
  const temporary = path.join(directory, `.${path.basename(target).slice(0, 100)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = fs.openSync(temporary, "wx");
  try {
    try {
      for (const chunk of chunks) writeAll(fd, chunk);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, target);
  } catch (error) {
    removeQuietly(temporary);
    throw error;
  }
  syncDirectory(directory);
}

/** The whole file, refused before reading if it cannot fit in one Buffer. */
export function readCheckpointFile(file: string): Uint8Array {
  const size = fs.statSync(file).size;
  if (size > bufferConstants.MAX_LENGTH)
    throw checkpointError(`checkpoint ${file}`, `${size} bytes is more than one Buffer can hold (${bufferConstants.MAX_LENGTH})`);
  return fs.readFileSync(file);
}

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let offset = 0; offset < chunk.byteLength; )
    offset += fs.writeSync(fd, chunk, offset, chunk.byteLength - offset);
}

// Makes the rename itself durable. Directories cannot be opened for fsync on Windows; there the
// rename is as durable as the file system makes it.
function syncDirectory(directory: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(directory, "r");
    fs.fsyncSync(fd);
  } catch {
    // Not supported here (Windows, some network file systems): nothing more can be done.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function removeQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // Already gone, or never created.
  }
}
