// The save lock's protocol (save-lock.ts) is written once, as a generator that yields the file
// operations it needs; runSync performs them with fs's synchronous calls, runAsync with
// fs.promises, so the asynchronous save does every I/O call off the event loop and both saves
// follow exactly the same steps.
import * as fs from "fs";

/** The small file operations of the lock protocol (lock files, temporaries' names, /proc). */
export interface FileOps {
  /** Creates `file` (it must not exist) holding `text`. */
  createExclusive(file: string, text: string): void;
  link(existing: string, newPath: string): void;
  rename(from: string, to: string): void;
  readText(file: string): string;
  readLink(file: string): string;
  unlink(file: string): void;
  list(directory: string): string[];
  identify(file: string): { ino: number; mtimeMs: number };
}

type Request = { [K in keyof FileOps]: { op: K; args: Parameters<FileOps[K]> } }[keyof FileOps];
export type Steps<T> = Generator<Request, T, unknown>;

/** One file operation, as a step: `const text = yield* io("readText", file)`. */
export function* io<K extends keyof FileOps>(op: K, ...args: Parameters<FileOps[K]>): Generator<Request, ReturnType<FileOps[K]>, unknown> {
  return (yield { op, args } as Request) as ReturnType<FileOps[K]>;
}

// Through the fs module object (not destructured), so that a test's spy sees these calls too.
const syncOps: FileOps = {
  createExclusive: (file, text) => {
    try {
      fs.writeFileSync(file, text, { flag: "wx" });
    } catch (error) {
      // Created but not written (ENOSPC): remove it. EEXIST is another writer's file.
      if (errorCode(error) !== "EEXIST") unlinkQuietly(file);
      throw error;
    }
  },
  link: (existing, newPath) => fs.linkSync(existing, newPath),
  rename: (from, to) => fs.renameSync(from, to),
  readText: (file) => fs.readFileSync(file, "utf8"),
  readLink: (file) => fs.readlinkSync(file),
  unlink: (file) => fs.unlinkSync(file),
  list: (directory) => fs.readdirSync(directory),
  identify: (file) => {
    const stats = fs.statSync(file);
    return { ino: stats.ino, mtimeMs: stats.mtimeMs };
  },
};

const asyncOps: { [K in keyof FileOps]: (...args: Parameters<FileOps[K]>) => Promise<ReturnType<FileOps[K]>> } = {
  createExclusive: async (file, text) => {
    try {
      await fs.promises.writeFile(file, text, { flag: "wx" });
    } catch (error) {
      if (errorCode(error) !== "EEXIST") await fs.promises.unlink(file).catch(() => undefined);
      throw error;
    }
  },
  link: (existing, newPath) => fs.promises.link(existing, newPath),
  rename: (from, to) => fs.promises.rename(from, to),
  readText: (file) => fs.promises.readFile(file, "utf8"),
  readLink: (file) => fs.promises.readlink(file),
  unlink: (file) => fs.promises.unlink(file),
  list: (directory) => fs.promises.readdir(directory),
  identify: async (file) => {
    const stats = await fs.promises.stat(file);
    return { ino: stats.ino, mtimeMs: stats.mtimeMs };
  },
};

/** Runs `steps` with synchronous file calls; an operation's error is thrown into the steps. */
export function runSync<T>(steps: Steps<T>): T {
  let next = steps.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = (syncOps[next.value.op] as (...args: unknown[]) => unknown)(...next.value.args);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

/** Runs `steps` with fs.promises: the same steps, every file call off the event loop. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = await (asyncOps[next.value.op] as (...args: unknown[]) => Promise<unknown>)(...next.value.args);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

/** The error's `code` (ENOENT, EEXIST, ...), or undefined. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // Never created.
  }
}
