// Checkpoint files on disk (docs/checkpoint-format.md, "Atomic saves"). A save takes the
// target's lock (save-lock.ts), writes a temporary file beside the target, fsyncs it, renames it
// over the target and fsyncs the directory: a crash at any moment leaves either the previous
// checkpoint or the new one, never a mix, and the next save removes what a dead writer left.
import * as fs from "fs";
import { isTypedArray, typeError, withCode } from "../validate";
import { runAsync, runSync } from "./fs-steps";
import { acquireSaveLock, releaseSaveLock, savePaths, type SaveLock } from "./save-lock";

export { CHECKPOINT_BUSY } from "./save-lock";

/** Bytes per write call: Node takes a write's length as an int32, so larger chunks go in parts. */
const MAX_WRITE_BYTES = 1 << 30;

/**
 * A checkpoint being written to a temporary file beside `file`; nothing is visible at `file`
 * until commit(). A failed write or commit aborts by itself (the temporary file is removed and
 * the lock released) before it throws; every writer must end with commit() or abort(), or its
 * lock stays held (saves to the path then fail as busy) until the process exits.
 */
export interface AtomicFileWriter {
  /** Appends bytes (loops until all are written; no 2 GiB single-call limit: split large chunks). */
  write(chunk: Uint8Array): void;
  /** fsync the file, rename it over the target, fsync the directory, release any lock. */
  commit(): void;
  /** Remove the temporary file and release any lock; never throws; safe after a failed write or twice. */
  abort(): void;
}

export interface AsyncAtomicFileWriter {
  /** As AtomicFileWriter's; calls made without awaiting the previous one run in call order. */
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  /** Never rejects. */
  abort(): Promise<void>;
}

/**
 * Opens a temporary file for `file` under `file`'s lock, after removing what dead writers left.
 * Throws ERR_MICROADAM_CHECKPOINT_BUSY (with the holder's pid) while another save to `file` is in
 * progress, and fs errors (ENOENT for a missing directory, EACCES, ...).
 */
export function openAtomicFile(file: string): AtomicFileWriter {
  const lock = runSync(acquireSaveLock(savePaths(checkFile(file))));
  let fd: number;
  try {
    fd = fs.openSync(lock.temporary, "wx");
  } catch (error) {
    runSync(releaseSaveLock(lock));
    throw error;
  }
  return new SyncAtomicFile(lock, fd);
}

/** The same, with every I/O call off the event loop (fs.promises / FileHandle). */
export async function openAtomicFileAsync(file: string): Promise<AsyncAtomicFileWriter> {
  const lock = await runAsync(acquireSaveLock(savePaths(checkFile(file))));
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(lock.temporary, "wx");
  } catch (error) {
    await runAsync(releaseSaveLock(lock));
    throw error;
  }
  return new AsyncAtomicFile(lock, handle);
}

/** Writes `chunks` to `file` atomically (see above). On any error the target is untouched. */
export function writeFileAtomic(file: string, chunks: readonly Uint8Array[]): void {
  const writer = openAtomicFile(file);
  for (const chunk of chunks) writer.write(chunk); // a failed write aborts by itself
  writer.commit();
}

function checkFile(file: unknown): string {
  if (typeof file !== "string" || file.length === 0) throw typeError("file", "a non-empty string", file);
  return file;
}

function checkChunk(chunk: unknown): void {
  if (!isTypedArray(chunk, Uint8Array)) throw typeError("chunk", "a Uint8Array", chunk);
}

type WriterState = "open" | "committed" | "aborted";

function closedError(state: WriterState, call: string): Error {
  return withCode(new Error(`${call}() on a checkpoint writer that was ${state}`), "ERR_INVALID_STATE");
}

class SyncAtomicFile implements AtomicFileWriter {
  #state: WriterState = "open";

  constructor(
    private readonly lock: SaveLock,
    private fd: number | undefined,
  ) {}

  write(chunk: Uint8Array): void {
    if (this.#state !== "open") throw closedError(this.#state, "write");
    checkChunk(chunk);
    try {
      for (let offset = 0; offset < chunk.byteLength; )
        offset += fs.writeSync(this.fd!, chunk, offset, Math.min(chunk.byteLength - offset, MAX_WRITE_BYTES));
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  commit(): void {
    if (this.#state !== "open") throw closedError(this.#state, "commit");
    try {
      fs.fsyncSync(this.fd!);
      const fd = this.fd!;
      this.fd = undefined;
      fs.closeSync(fd);
      fs.renameSync(this.lock.temporary, this.lock.paths.target);
    } catch (error) {
      this.abort();
      throw error;
    }
    this.#state = "committed";
    syncDirectory(this.lock.paths.directory);
    runSync(releaseSaveLock(this.lock));
  }

  abort(): void {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    try {
      if (this.fd !== undefined) fs.closeSync(this.fd);
    } catch {
      // Closing cannot fail in a way that matters to a file about to be removed.
    }
    this.fd = undefined;
    try {
      fs.unlinkSync(this.lock.temporary);
    } catch {
      // Already gone.
    }
    runSync(releaseSaveLock(this.lock));
  }
}

class AsyncAtomicFile implements AsyncAtomicFileWriter {
  #state: WriterState = "open";
  /** The previous call's completion: calls run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly lock: SaveLock,
    private handle: fs.promises.FileHandle | undefined,
  ) {}

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#state !== "open") throw closedError(this.#state, "write");
      checkChunk(chunk);
      try {
        for (let offset = 0; offset < chunk.byteLength; )
          offset += (await this.handle!.write(chunk, offset, Math.min(chunk.byteLength - offset, MAX_WRITE_BYTES), null)).bytesWritten;
      } catch (error) {
        await this.#abortNow();
        throw error;
      }
    });
  }

  commit(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#state !== "open") throw closedError(this.#state, "commit");
      try {
        await this.handle!.sync();
        const handle = this.handle!;
        this.handle = undefined;
        await handle.close();
        await fs.promises.rename(this.lock.temporary, this.lock.paths.target);
      } catch (error) {
        await this.#abortNow();
        throw error;
      }
      this.#state = "committed";
      await syncDirectoryAsync(this.lock.paths.directory);
      await runAsync(releaseSaveLock(this.lock));
    });
  }

  abort(): Promise<void> {
    return this.#enqueue(() => this.#abortNow());
  }

  async #abortNow(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    try {
      await this.handle?.close();
    } catch {
      // As in the synchronous writer.
    }
    this.handle = undefined;
    try {
      await fs.promises.unlink(this.lock.temporary);
    } catch {
      // Already gone.
    }
    await runAsync(releaseSaveLock(this.lock));
  }
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

async function syncDirectoryAsync(directory: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(directory, "r");
    await handle.sync();
  } catch {
    // As in syncDirectory.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
