// Crash-clean saves (docs/checkpoint-format.md, "Atomic saves"), with real processes: child
// processes (test/crash/saver.js, through the built package in dist/) save to one path and are
// SIGKILLed at random (seeded) moments. After every kill the target is the previous complete
// checkpoint or the new one, and the next save removes everything the dead writer left; a live
// writer's temporary file is never removed by another process's save; several processes saving
// to one path at once each either succeed or get ERR_MICROADAM_CHECKPOINT_BUSY.
import { spawn, type ChildProcessWithoutNullStreams } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createMicroAdamState, loadState, saveState } from "../lib";
import { openAtomicFile } from "../lib/checkpoint/file";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chunkOf, chunkCount, identify } = require("./crash/content") as {
  chunkOf(writer: number, generation: number, index: number, chunkBytes: number, totalBytes: number): Buffer;
  chunkCount(chunkBytes: number, totalBytes: number): number;
  identify(bytes: Buffer, chunkBytes: number): { writer: number; generation: number };
};

const root = path.join(__dirname, "..");
const saver = path.join(__dirname, "crash", "saver.js");
const BYTES = 2_000_000;
const CHUNK_BYTES = 4096; // ~490 writes per save, so that most kills land mid-write
const STATE_NUMEL = 1_500_000; // a state file of about 3 MB

let base: string;
beforeAll(() => {
  // The children run dist/: refuse to test a build older than the sources.
  const built = fs.statSync(path.join(root, "dist", "checkpoint", "file.js")).mtimeMs;
  for (const source of ["file.ts", "save-lock.ts", "fs-steps.ts"])
    if (fs.statSync(path.join(root, "lib", "checkpoint", source)).mtimeMs > built)
      throw new Error(`dist/ is older than lib/checkpoint/${source}: run npm run build:ts`);
  base = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-crash-"));
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

function freshDirectory(name: string): string {
  const directory = path.join(base, name);
  fs.mkdirSync(directory);
  return directory;
}

/** A small seeded PRNG (mulberry32), so that a failing schedule of kills can be told apart. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Kills `saver` at a random moment: after a seeded number (0 to 2) of completed saves, a seeded
 * fraction into the next one. Save times vary with the machine's load, so the fraction is of the
 * save time measured so far (`measured`, updated here); with nothing measured yet, the saver first
 * completes 3 saves to measure it.
 */
async function killAtRandom(saver: Saver, random: () => number, measured: number[]): Promise<void> {
  await saver.waitFor("ready");
  const saves = Math.floor(random() * 3);
  const fraction = random() * 1.2;
  if (measured.length === 0) {
    await saver.waitFor("done ", 3);
    measured.push(...saver.saveIntervals());
  } else if (saves > 0) await saver.waitFor("done ", saves);
  const counted = saver.saveIntervals().length;
  await sleep(fraction * (measured.reduce((a, b) => a + b) / measured.length));
  await saver.kill();
  measured.push(...saver.saveIntervals().slice(counted));
  measured.splice(0, Math.max(0, measured.length - 20)); // the recent load
}

interface Job {
  mode: "loop" | "once" | "slow" | "state";
  api?: "sync" | "async";
  target: string;
  writer?: number;
  first?: number;
  forMs?: number;
  numel?: number;
}

interface Saver {
  pid: number;
  process: ChildProcessWithoutNullStreams;
  lines: string[];
  stderr(): string;
  /** Resolves once `count` lines have started with `prefix`. */
  waitFor(prefix: string, count?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Milliseconds between its consecutive "done" lines: how long one save takes on this machine now. */
  saveIntervals(): number[];
  kill(): Promise<void>;
}

/** Savers still running when a test ends (it failed): killed, so that none outlives its test. */
const running = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of running) child.kill("SIGKILL");
});

function startSaver(job: Job, onLine: (line: string) => void = () => undefined): Saver {
  const child = spawn(process.execPath, [saver, JSON.stringify({ bytes: BYTES, chunkBytes: CHUNK_BYTES, numel: STATE_NUMEL, ...job })], { cwd: root });
  running.add(child);
  const lines: string[] = [];
  const times: number[] = [];
  let stderr = "";
  let pending = "";
  let waiters: { prefix: string; count: number; resolve: () => void }[] = [];
  const seen = (prefix: string) => lines.filter((line) => line.startsWith(prefix)).length;
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    pending += text;
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      lines.push(line);
      times.push(performance.now());
      onLine(line);
      waiters = waiters.filter((w) => !(seen(w.prefix) >= w.count && (w.resolve(), true)));
    }
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // "close": stdout has been read to its end, so every line printed before a kill is in `lines`.
    child.on("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    pid: child.pid!,
    process: child,
    lines,
    stderr: () => stderr,
    waitFor: (prefix, count = 1) =>
      new Promise<void>((resolve, reject) => {
        if (seen(prefix) >= count) return resolve();
        waiters.push({ prefix, count, resolve });
        void exited.then(({ code, signal }) => reject(new Error(`saver ${child.pid} exited (${code ?? signal}) before "${prefix}": ${stderr}`)));
      }),
    exited,
    saveIntervals: () => times.filter((_, i) => lines[i].startsWith("done ")).flatMap((time, i, done) => (i > 0 ? [time - done[i - 1]] : [])),
    async kill() {
      child.kill("SIGKILL");
      const { signal } = await exited;
      if (signal !== "SIGKILL") throw new Error(`saver ${child.pid} ended before its kill (${signal}): ${stderr}`);
    },
  };
}

/** The last "done" number a saver printed, or `before` if none. */
function lastDone(saver: Saver, before: number | undefined): number | undefined {
  const done = saver.lines.filter((line) => line.startsWith("done ")).map((line) => Number(line.slice(5)));
  return done.length > 0 ? done[done.length - 1] : before;
}

/** What a writer left beside the target: its temporaries (`.<name>.<pid>[-<start>].<hex>.tmp`) and the lock it holds. */
function leftBy(directory: string, name: string): { pid: number; file: string }[] {
  const left: { pid: number; file: string }[] = [];
  for (const file of fs.readdirSync(directory)) {
    if (file === name) continue;
    const temporary = /^\.(.+)\.(\d+)(?:-\d+)?\.[0-9a-f]{12}\.tmp$/.exec(file);
    if (temporary) left.push({ pid: Number(temporary[2]), file });
    else if (file === `.${name}.lock`) {
      try {
        left.push({ pid: (JSON.parse(fs.readFileSync(path.join(directory, file), "utf8")) as { pid: number }).pid, file });
      } catch {
        // Released while being read.
      }
    } else left.push({ pid: -1, file }); // nothing else may appear
  }
  return left;
}

/** The target as test/crash/content.js identifies it (throws for a torn or mixed file), or undefined if absent. */
function targetContent(target: string): { writer: number; generation: number } | undefined {
  return fs.existsSync(target) ? identify(fs.readFileSync(target), CHUNK_BYTES) : undefined;
}

function saveInProcess(target: string, writer: number, generation: number): void {
  const file = openAtomicFile(target);
  for (let i = 0; i < chunkCount(CHUNK_BYTES, BYTES); i++) file.write(chunkOf(writer, generation, i, CHUNK_BYTES, BYTES));
  file.commit();
}

test("SIGKILLs at random moments of saves through openAtomicFile(Async) leave the previous or the new checkpoint, and the next save removes what the killed ones left", async () => {
  const directory = freshDirectory("kills");
  const name = "model.ckpt";
  const target = path.join(directory, name);
  const random = seeded(0x5eed);
  const dead = new Set<number>();
  const problems: string[] = [];
  let held: number | undefined; // the generation the target holds
  let killsThatLeftFiles = 0;
  let cleanupsChecked = 0;
  const measured = { sync: [] as number[], async: [] as number[] }; // an async save of many small writes is several times slower
  for (let round = 0; round < 24; round++) {
    const api = round % 2 === 0 ? "sync" : "async";
    let checked = false;
    const saver = startSaver({ mode: "loop", api, target, writer: 1, first: (held ?? 0) + 1 }, (line) => {
      // After this saver's first save, nothing of a dead writer may remain.
      if (checked || !line.startsWith("done ")) return;
      checked = true;
      cleanupsChecked++;
      for (const { pid, file } of leftBy(directory, name))
        if (pid !== saver.pid) problems.push(`round ${round}: ${file} (pid ${pid}) remains after a save by ${saver.pid}`);
    });
    await killAtRandom(saver, random, measured[api]);
    dead.add(saver.pid);
    const expected = lastDone(saver, held);
    const found = targetContent(target); // throws on a torn file
    if (expected === undefined ? !(found === undefined || found.generation === 1) : !(found !== undefined && [expected, expected + 1].includes(found.generation)))
      problems.push(`round ${round}: the target holds generation ${found?.generation} after the last completed save ${expected}`);
    held = found?.generation;
    const left = leftBy(directory, name);
    if (left.length > 0) killsThatLeftFiles++;
    // Only dead savers' files (a saver killed before it took the lock has not removed older ones yet),
    // at most a lock and two temporaries each (its data, and a lock candidate or a stale lock set aside).
    for (const { pid, file } of left) if (!dead.has(pid)) problems.push(`round ${round}: ${file} (pid ${pid}) is no killed saver's`);
    for (const pid of dead)
      if (left.filter((l) => l.pid === pid).length > 3) problems.push(`round ${round}: saver ${pid} left ${left.filter((l) => l.pid === pid).map((l) => l.file)}`);
  }
  saveInProcess(target, 2, 1);
  expect(problems).toEqual([]);
  expect(fs.readdirSync(directory)).toEqual([name]);
  expect(targetContent(target)).toEqual({ writer: 2, generation: 1 });
  // The schedule really killed saves mid-write, and saves really followed kills.
  expect(killsThatLeftFiles).toBeGreaterThanOrEqual(8);
  expect(cleanupsChecked).toBeGreaterThanOrEqual(12); // 17 rounds of this seed wait for a completed save
}, 60_000);

test("SIGKILLs during saveState leave a checkpoint that loads, of the last completed step or the next", async () => {
  const directory = freshDirectory("state-kills");
  const target = path.join(directory, "opt.madam");
  const random = seeded(0xc0ffee);
  const state = createMicroAdamState({ numel: STATE_NUMEL, topkBlockSize: 64, quantBlockSize: 16, window: 3, density: 0.1 });
  let held: number | undefined;
  let killsThatLeftFiles = 0;
  const measured: number[] = [];
  for (let round = 0; round < 10; round++) {
    const saver = startSaver({ mode: "state", target }); // resumes from the target
    await killAtRandom(saver, random, measured);
    const expected = lastDone(saver, held);
    if (fs.existsSync(target)) {
      loadState(state, target); // checks every byte's CRC: a torn or mixed file throws
      held = state.step;
    } else held = undefined;
    const sound = expected === undefined ? held === undefined || held === 1 : held === expected || held === expected + 1;
    expect({ round, expected, held, sound }).toEqual({ round, expected, held, sound: true });
    if (leftBy(directory, "opt.madam").length > 0) killsThatLeftFiles++;
  }
  expect(held).toBeGreaterThan(0);
  saveState(state, target);
  expect(fs.readdirSync(directory)).toEqual(["opt.madam"]);
  expect(killsThatLeftFiles).toBeGreaterThanOrEqual(1); // a save is most of each step's time: ~6 of 10 here
}, 60_000);

test("a live writer's temporary survives other processes' saves, which fail as busy; what dead writers left does not", async () => {
  const directory = freshDirectory("live");
  const name = "model.ckpt";
  const target = path.join(directory, name);
  // What a dead writer leaves: a save killed mid-write (retried until it left its files).
  const dead = new Set<number>();
  for (let attempt = 0; attempt < 10 && leftBy(directory, name).length === 0; attempt++) {
    const killed = startSaver({ mode: "loop", api: "async", target, writer: 5, first: 1 });
    await killed.waitFor("ready");
    await sleep(50 + 30 * attempt);
    await killed.kill();
    dead.add(killed.pid);
  }
  expect(leftBy(directory, name).filter(({ pid }) => dead.has(pid)).length).toBeGreaterThan(0);
  // Temporaries of a live process that holds no lock (a writer of an older version, or one
  // waiting for the lock): this test process is alive, so no save may remove them.
  const start = fs.existsSync("/proc/self/stat") ? fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ")[19] : undefined;
  const liveTemporaries = [`.${name}.${process.pid}.0123456789ab.tmp`, ...(start ? [`.${name}.${process.pid}-${start}.0123456789ab.tmp`] : [])];
  for (const file of liveTemporaries) fs.writeFileSync(path.join(directory, file), "a live writer's");

  const slow = startSaver({ mode: "slow", api: "sync", target, writer: 7, first: 1 });
  await slow.waitFor("paused"); // it holds the lock, half its checkpoint written
  const slowFiles = leftBy(directory, name).filter(({ pid }) => pid === slow.pid);
  expect(slowFiles.map(({ file }) => file).sort()).toEqual([expect.stringMatching(new RegExp(`^\\.model\\.ckpt\\.${slow.pid}-?\\d*\\.[0-9a-f]{12}\\.tmp$`)), `.${name}.lock`]);
  expect(leftBy(directory, name).filter(({ pid }) => dead.has(pid))).toEqual([]); // removed when the slow writer took the lock
  const slowTemporary = path.join(directory, slowFiles.find(({ file }) => file.endsWith(".tmp"))!.file);
  const slowBytes = fs.statSync(slowTemporary).size;
  expect(slowBytes).toBeGreaterThan(0);

  for (const api of ["sync", "async"] as const) {
    const other = startSaver({ mode: "once", api, target, writer: 8, first: 1 });
    expect(await other.exited).toEqual({ code: 0, signal: null });
    expect(other.lines).toEqual([`busy ${slow.pid} ${JSON.stringify(`cannot save ${target}: another save to it is in progress in process ${slow.pid}, which holds its lock ${path.join(directory, `.${name}.lock`)}`)}`]);
  }
  expect(fs.statSync(slowTemporary).size).toBe(slowBytes);
  for (const file of liveTemporaries) expect(fs.existsSync(path.join(directory, file))).toBe(true);

  slow.process.stdin.write("go\n");
  expect(await slow.exited).toEqual({ code: 0, signal: null });
  expect(slow.lines).toEqual(["paused", "done 1"]);
  expect(targetContent(target)).toEqual({ writer: 7, generation: 1 });

  const after = startSaver({ mode: "once", api: "async", target, writer: 8, first: 2 });
  expect(await after.exited).toEqual({ code: 0, signal: null });
  expect(after.lines).toEqual(["done 2"]);
  expect(targetContent(target)).toEqual({ writer: 8, generation: 2 });
  expect(fs.readdirSync(directory).sort()).toEqual([name, ...liveTemporaries].sort());
}, 60_000);

test("processes saving to one path at once each succeed or get ERR_MICROADAM_CHECKPOINT_BUSY, and the file is the last success", async () => {
  const directory = freshDirectory("concurrent");
  const name = "model.ckpt";
  const target = path.join(directory, name);
  const savers = [11, 12, 13, 14].map((writer, i) => startSaver({ mode: "loop", api: i % 2 ? "async" : "sync", target, writer, first: 1, forMs: 1500 }));
  const results = await Promise.all(savers.map((saver) => saver.exited));
  expect(results.map((result, i) => ({ ...result, stderr: savers[i].stderr() }))).toEqual(savers.map(() => ({ code: 0, signal: null, stderr: "" })));
  const pids = savers.map((saver) => saver.pid);
  const lockPath = path.join(directory, `.${name}.lock`);
  const successes: string[] = [];
  let busy = 0;
  for (const [i, saver] of savers.entries())
    for (const line of saver.lines.slice(1)) {
      const match = /^busy (\d+) (".*")$/.exec(line);
      if (line.startsWith("done ")) successes.push(`${11 + i} ${line.slice(5)}`);
      else if (match) {
        busy++;
        const holder = Number(match[1]);
        expect(pids.filter((pid) => pid !== saver.pid)).toContain(holder);
        expect(JSON.parse(match[2])).toBe(`cannot save ${target}: another save to it is in progress in process ${holder}, which holds its lock ${lockPath}`);
      } else throw new Error(`unexpected line from saver ${saver.pid}: ${line}`);
    }
  expect(successes.length).toBeGreaterThan(0);
  expect(busy).toBeGreaterThan(0);
  const final = targetContent(target)!;
  expect(successes).toContain(`${final.writer} ${final.generation}`);
  expect(fs.readdirSync(directory)).toEqual([name]);
}, 60_000);
