// One writer per checkpoint path, and nothing left behind by dead writers
// (docs/checkpoint-format.md, "Atomic saves").
//
// A save first takes the target's lock, `.<name>.lock` beside it: a file published with link()
// (atomic, and it fails if the lock exists), so a lock always holds its whole record: the
// owner's pid, its start time (/proc/<pid>/stat field 22, which tells a reused pid from the
// original), the boot id, the host and the pid namespace. A lock whose owner is dead is taken
// over; one whose owner is alive, or cannot be checked from here, makes the save fail with
// ERR_MICROADAM_CHECKPOINT_BUSY. Whoever holds the lock then removes the target's temporaries
// whose writer is dead: each temporary's name carries its writer's pid and start time, and a
// temporary is removed only when that process is known to be gone, so a live writer's file is
// never touched, whether it holds the lock or not (a contender's lock candidate, a writer of an
// older version that took no lock).
import { createHash, randomBytes } from "crypto";
import * as os from "os";
import * as path from "path";
import { withCode, type CodedError } from "../validate";
import { errorCode, io, type Steps } from "./fs-steps";

/** Another save to the same path is in progress. */
export const CHECKPOINT_BUSY = "ERR_MICROADAM_CHECKPOINT_BUSY";

/**
 * How long a lock file without a readable record counts as held: where link() is unsupported its
 * creator writes the record microseconds after creating it; one still empty later was left by a
 * crash (or emptied by a power cut).
 */
const UNREADABLE_LOCK_GRACE_MS = 10_000;
/** Tries to take a lock that keeps changing hands before giving up with ERR_MICROADAM_CHECKPOINT_BUSY. */
const TAKE_ATTEMPTS = 8;

/** A process as a lock records it; `start`, `boot` and `pidNamespace` only where /proc exists (Linux). */
interface ProcessIdentity {
  pid: number;
  /** Clock ticks from boot to the process's start: with the pid, one process, whatever reuses the pid later. */
  start?: string;
  /** /proc/sys/kernel/random/boot_id: a lock from an earlier boot is stale whatever its pid. */
  boot?: string;
  host?: string;
  /** The target of /proc/self/ns/pid: pids of another namespace (container) cannot be checked from here. */
  pidNamespace?: string;
}

type Verdict = "alive" | "dead" | "unknowable";

/** The file names of one target: its lock, and the prefix of its temporaries. */
export interface SavePaths {
  target: string;
  directory: string;
  /** The target's name, shortened (with a hash) so that every derived name stays under NAME_MAX. */
  stem: string;
  lockPath: string;
}

export interface SaveLock {
  paths: SavePaths;
  /** The lock file's content as this save wrote it: release removes the lock only while it is this. */
  text: string;
  /** A fresh temporary name for the data, with this process's pid and start time. */
  temporary: string;
}

export function savePaths(file: string): SavePaths {
  const target = path.resolve(file);
  const directory = path.dirname(target);
  const name = path.basename(target);
  const stem = name.length <= 100 ? name : `${name.slice(0, 80)}~${createHash("sha256").update(name).digest("hex").slice(0, 16)}`;
  return { target, directory, stem, lockPath: path.join(directory, `.${stem}.lock`) };
}

let ownIdentity: ProcessIdentity | undefined;

function* selfIdentity(): Steps<ProcessIdentity> {
  if (ownIdentity?.pid === process.pid) return ownIdentity;
  const identity: ProcessIdentity = { pid: process.pid, host: os.hostname() };
  // Each may be missing (no /proc on macOS or Windows, or part of it hidden); then liveness
  // falls back to signal 0 and the checks it cannot make are skipped.
  const stat = yield* optional(io("readText", "/proc/self/stat"));
  identity.start = stat === undefined ? undefined : parseStat(stat)?.start;
  identity.boot = (yield* optional(io("readText", "/proc/sys/kernel/random/boot_id")))?.trim() || undefined;
  identity.pidNamespace = yield* optional(io("readLink", "/proc/self/ns/pid"));
  return (ownIdentity = identity);
}

/** The steps' result, or undefined if they throw. */
function* optional<T>(steps: Steps<T>): Steps<T | undefined> {
  try {
    return yield* steps;
  } catch {
    return undefined;
  }
}

/** The state letter (field 3) and the start time (field 22) of a /proc/<pid>/stat line. */
function parseStat(text: string): { state: string; start: string } | undefined {
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const start = fields[19];
  return fields[0] && start && /^\d+$/.test(start) ? { state: fields[0], start } : undefined;
}

/** Whether the process a lock or a temporary's name describes still runs. Never "dead" for a live one. */
function* judge(owner: ProcessIdentity, self: ProcessIdentity): Steps<Verdict> {
  if (owner.host !== undefined && owner.host !== self.host) return "unknowable";
  if (owner.pidNamespace !== undefined && self.pidNamespace !== undefined && owner.pidNamespace !== self.pidNamespace) return "unknowable";
  if (owner.boot !== undefined && self.boot !== undefined && owner.boot !== self.boot) return "dead";
  if (!Number.isSafeInteger(owner.pid) || owner.pid < 1) return "dead";
  if (self.start !== undefined) {
    let stat: ReturnType<typeof parseStat>;
    try {
      stat = parseStat(yield* io("readText", `/proc/${owner.pid}/stat`));
    } catch {
      stat = undefined; // gone, or hidden from this user (hidepid): signal 0 tells which
    }
    if (stat !== undefined) {
      if (stat.state === "Z" || stat.state === "X") return "dead"; // killed, not yet reaped
      return owner.start === undefined || owner.start === stat.start ? "alive" : "dead"; // else the pid was reused
    }
  }
  // Without /proc a reused pid looks alive: the save then reports the lock busy until that process ends.
  try {
    process.kill(owner.pid, 0);
    return "alive";
  } catch (error) {
    return errorCode(error) === "ESRCH" ? "dead" : "alive"; // EPERM: it exists, under another user
  }
}

function temporaryPath(paths: SavePaths, self: ProcessIdentity): string {
  const writer = self.start === undefined ? `${self.pid}` : `${self.pid}-${self.start}`;
  return path.join(paths.directory, `.${paths.stem}.${writer}.${randomBytes(6).toString("hex")}.tmp`);
}

/** The writer named by one of the target's temporaries (`.<stem>.<pid>[-<start>].<12 hex>.tmp`), or undefined. */
function temporaryWriter(name: string, stem: string): ProcessIdentity | undefined {
  const prefix = `.${stem}.`;
  if (!name.startsWith(prefix) || !name.endsWith(".tmp")) return undefined;
  // Strict, so that the temporaries of "a.1" are not taken for those of "a".
  const match = /^(\d{1,10})(?:-(\d{1,20}))?\.[0-9a-f]{12}$/.exec(name.slice(prefix.length, -".tmp".length));
  return match ? { pid: Number(match[1]), start: match[2] } : undefined;
}

interface HeldLock {
  text: string;
  ino: number;
  mtimeMs: number;
  owner?: ProcessIdentity;
}

function parseLockRecord(text: string): ProcessIdentity | undefined {
  try {
    const record = JSON.parse(text) as Record<string, unknown>;
    if (!Number.isSafeInteger(record.pid)) return undefined;
    const optional = (key: string) => (typeof record[key] === "string" ? (record[key] as string) : undefined);
    return { pid: record.pid as number, start: optional("start"), boot: optional("boot"), host: optional("host"), pidNamespace: optional("pidNamespace") };
  } catch {
    return undefined; // empty (being written, or lost in a power cut) or not ours
  }
}

function* inspectLock(lockPath: string): Steps<HeldLock | undefined> {
  try {
    const { ino, mtimeMs } = yield* io("identify", lockPath);
    const text = yield* io("readText", lockPath);
    return { text, ino, mtimeMs, owner: parseLockRecord(text) };
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined; // released meanwhile
    throw error;
  }
}

/** Publishes `candidate` (which holds the whole record) as the lock; false if a lock exists. */
function* publish(candidate: string, lockPath: string, text: string): Steps<boolean> {
  try {
    yield* io("link", candidate, lockPath);
    return true;
  } catch (error) {
    const code = errorCode(error);
    if (code === "EEXIST") return false;
    if (code === "ENOENT") throw error;
    // No hard links on this file system (FAT, some network and FUSE ones): create the lock in place.
    // Its record follows within microseconds; a lock still empty after UNREADABLE_LOCK_GRACE_MS is stale.
  }
  try {
    yield* io("createExclusive", lockPath, text);
    return true;
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  }
}

/**
 * Removes a lock judged stale. It is first renamed to a temporary name of this process (one
 * rename wins), then checked to be the very file judged (inode and content); a lock that another
 * process published in between is put back.
 */
function* takeOver(paths: SavePaths, judged: HeldLock, self: ProcessIdentity): Steps<void> {
  const aside = temporaryPath(paths, self);
  try {
    yield* io("rename", paths.lockPath, aside);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return; // another process took it first
    throw error;
  }
  let same = false;
  try {
    const { ino } = yield* io("identify", aside);
    same = ino === judged.ino && (yield* io("readText", aside)) === judged.text;
  } catch {
    same = false;
  }
  if (!same) {
    try {
      yield* io("link", aside, paths.lockPath);
    } catch (error) {
      // EEXIST: a third process published a lock meanwhile; the displaced owner and it both save
      // (each renames a whole file over the target, so the target is still one of them).
      if (errorCode(error) !== "EEXIST") {
        try {
          yield* io("rename", aside, paths.lockPath); // no hard links here
        } catch {
          // Nothing more can be done: its owner saves on without a lock.
        }
      }
    }
  }
  yield* removeQuietly(aside);
}

function* removeQuietly(file: string): Steps<void> {
  try {
    yield* io("unlink", file);
  } catch {
    // Already gone, or never created.
  }
}

function busyError(paths: SavePaths, held: HeldLock | undefined, verdict: Verdict | "unreadable" | "contended", self: ProcessIdentity): CodedError {
  const owner = held?.owner;
  const where = `cannot save ${paths.target}: another save to it is in progress`;
  let message: string;
  if (verdict === "contended") message = `${where} (its lock ${paths.lockPath} changed hands ${TAKE_ATTEMPTS} times while this save tried to take it)`;
  else if (owner === undefined) message = `${where} (a process is creating its lock ${paths.lockPath})`;
  else if (verdict === "unknowable")
    message =
      `${where} in process ${owner.pid} on ${owner.host ?? "an unknown host"}${owner.pidNamespace ? ` (pid namespace ${owner.pidNamespace})` : ""}, ` +
      `which cannot be checked from here; it holds the lock ${paths.lockPath}: remove that file if that process no longer runs`;
  else message = `${where} in process ${owner.pid}${owner.pid === self.pid ? " (this process)" : ""}, which holds its lock ${paths.lockPath}`;
  return Object.assign(withCode(new Error(message), CHECKPOINT_BUSY), { path: paths.target, lockPath: paths.lockPath, pid: owner?.pid });
}

/**
 * Takes `paths.target`'s lock, taking over a dead owner's, then removes the temporaries of dead
 * writers. Throws ERR_MICROADAM_CHECKPOINT_BUSY if a live process (or one that cannot be checked)
 * holds it. Leaves nothing behind on failure.
 */
export function* acquireSaveLock(paths: SavePaths): Steps<SaveLock> {
  const self = yield* selfIdentity();
  const record = { ...self, token: randomBytes(8).toString("hex") };
  const text = `${JSON.stringify(record)}\n`;
  // Written whole under a temporary name, then published by link(): a lock is never seen half written.
  const candidate = temporaryPath(paths, self);
  yield* io("createExclusive", candidate, text);
  try {
    for (let attempt = 1; ; attempt++) {
      let published: boolean;
      try {
        published = yield* publish(candidate, paths.lockPath, text);
      } catch (error) {
        // The candidate vanished: a save in another pid namespace judged its pid dead. Write it again.
        if (errorCode(error) !== "ENOENT" || attempt >= TAKE_ATTEMPTS) throw error;
        yield* io("createExclusive", candidate, text);
        continue;
      }
      if (published) break;
      const held = yield* inspectLock(paths.lockPath);
      let verdict: Verdict | "unreadable" = "dead";
      if (held?.owner !== undefined) verdict = yield* judge(held.owner, self);
      else if (held !== undefined && Math.abs(Date.now() - held.mtimeMs) < UNREADABLE_LOCK_GRACE_MS) verdict = "unreadable";
      if (verdict !== "dead") throw busyError(paths, held, verdict, self);
      if (attempt >= TAKE_ATTEMPTS) throw busyError(paths, held, "contended", self);
      if (held !== undefined) yield* takeOver(paths, held, self);
    }
  } finally {
    yield* removeQuietly(candidate);
  }
  yield* removeDeadTemporaries(paths, self);
  return { paths, text, temporary: temporaryPath(paths, self) };
}

/** Removes the lock if it is still this save's. Never throws. */
export function* releaseSaveLock(lock: SaveLock): Steps<void> {
  try {
    if ((yield* io("readText", lock.paths.lockPath)) === lock.text) yield* io("unlink", lock.paths.lockPath);
  } catch {
    // Already gone.
  }
}

/** Removes the target's temporaries whose writer is known to be dead (never a live one's). Never throws. */
function* removeDeadTemporaries(paths: SavePaths, self: ProcessIdentity): Steps<void> {
  let names: string[];
  try {
    names = yield* io("list", paths.directory);
  } catch {
    return; // a directory we may write but not list: nothing can be found to clean
  }
  const verdicts = new Map<string, Verdict>();
  for (const name of names) {
    const writer = temporaryWriter(name, paths.stem);
    if (writer === undefined) continue;
    const key = `${writer.pid}-${writer.start ?? ""}`;
    let verdict = verdicts.get(key);
    if (verdict === undefined) verdicts.set(key, (verdict = yield* judge(writer, self)));
    if (verdict === "dead") yield* removeQuietly(path.join(paths.directory, name));
  }
}
