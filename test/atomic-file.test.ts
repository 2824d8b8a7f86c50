// The atomic checkpoint writer and its save lock, in one process (lib/checkpoint/file.ts,
// save-lock.ts; docs/checkpoint-format.md, "Atomic saves"): nothing is visible before commit,
// every failure cleans up, a busy path is refused with ERR_MICROADAM_CHECKPOINT_BUSY, and the
// lock's judgment of owners: dead, reused pids, other boots, zombies are stale; live processes,
// other hosts and pid namespaces are not; without /proc, signal 0 decides.
// test/checkpoint-crash.test.ts kills real writers.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { openAtomicFile, openAtomicFileAsync, writeFileAtomic } from "../lib/checkpoint/file";

// The module object itself (not an import namespace), so that a spy replaces what lib/ calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs: typeof fs = require("fs");
const hasProc = fs.existsSync("/proc/self/stat");
const procTest = hasProc ? test : test.skip;

let base: string;
let directory: string;
let target: string;
const name = "model.ckpt";
beforeAll(() => (base = fs.mkdtempSync(path.join(os.tmpdir(), "microadam-atomic-"))));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
beforeEach(() => {
  directory = fs.mkdtempSync(path.join(base, "t-"));
  target = path.join(directory, name);
});
afterEach(() => jest.restoreAllMocks());

const lockPath = () => path.join(directory, `.${name}.lock`);
const listing = () => fs.readdirSync(directory).sort();
const bytes = (text: string) => new Uint8Array(Buffer.from(text));

/** Field 22 of /proc/<pid>/stat: the process's start time in clock ticks after boot. */
function startOf(pid: number | "self"): string {
  return fs.readFileSync(`/proc/${pid}/stat`, "utf8").slice(fs.readFileSync(`/proc/${pid}/stat`, "utf8").lastIndexOf(")") + 2).split(" ")[19];
}

/** A lock record as this process would write it, with `changes`. */
function record(changes: Record<string, unknown>): string {
  const self: Record<string, unknown> = { pid: process.pid, host: os.hostname(), token: "0123456789abcdef" };
  if (hasProc) {
    self.start = startOf("self");
    self.boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    self.pidNamespace = fs.readlinkSync("/proc/self/ns/pid");
  }
  return `${JSON.stringify({ ...self, ...changes })}\n`;
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", ""]).pid;
}

function thrown(run: () => unknown): Error & { code?: string; pid?: number } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string; pid?: number };
  }
  throw new Error("it did not throw");
}

function busyMessage(holder: number, self = false): string {
  return `cannot save ${target}: another save to it is in progress in process ${holder}${self ? " (this process)" : ""}, which holds its lock ${lockPath()}`;
}

describe("the writer", () => {
  test("nothing appears at the target until commit; then exactly the bytes, and nothing beside it", () => {
    fs.writeFileSync(target, "previous");
    const writer = openAtomicFile(target);
    const chunk = Buffer.from("xxabcdefyy").subarray(2, 8); // a view: its offset must be honoured
    writer.write(bytes("first "));
    writer.write(chunk);
    writer.write(new Uint8Array(0));
    expect(fs.readFileSync(target, "utf8")).toBe("previous");
    expect(listing()).toEqual([expect.stringMatching(new RegExp(`^\\.model\\.ckpt\\.${process.pid}(-\\d+)?\\.[0-9a-f]{12}\\.tmp$`)), `.${name}.lock`, name]);
    writer.commit();
    expect(fs.readFileSync(target, "utf8")).toBe("first abcdef");
    expect(listing()).toEqual([name]);
    writer.abort(); // after commit: nothing happens
    expect(fs.readFileSync(target, "utf8")).toBe("first abcdef");
  });

  test("abort removes the temporary and the lock, may be called twice, and the writer refuses further use", () => {
    fs.writeFileSync(target, "previous");
    const writer = openAtomicFile(target);
    writer.write(bytes("partial"));
    writer.abort();
    writer.abort();
    expect(listing()).toEqual([name]);
    expect(fs.readFileSync(target, "utf8")).toBe("previous");
    for (const call of [() => writer.write(bytes("x")), () => writer.commit()]) {
      const error = thrown(call);
      expect(error.code).toBe("ERR_INVALID_STATE");
      expect(error.message).toMatch(/^(write|commit)\(\) on a checkpoint writer that was aborted$/);
    }
    const committed = openAtomicFile(target);
    committed.commit();
    expect(thrown(() => committed.write(bytes("x"))).message).toBe("write() on a checkpoint writer that was committed");
    expect(fs.readFileSync(target, "utf8")).toBe(""); // an empty checkpoint is the writer's caller's business
  });

  test("arguments are checked", () => {
    expect(() => openAtomicFile("")).toThrow(new TypeError('Expected a non-empty string for file but received "" of type string'));
    const writer = openAtomicFile(target);
    expect(() => writer.write("text" as unknown as Uint8Array)).toThrow(new TypeError('Expected a Uint8Array for chunk but received "text" of type string'));
    writer.abort();
  });

  test("the async writer: the same contract, and writes issued without awaiting land in order", async () => {
    const writer = await openAtomicFileAsync(target);
    const writes = ["a", "b", "c", "d"].map((text) => writer.write(bytes(text.repeat(1000))));
    const committed = writer.commit();
    await Promise.all([...writes, committed]);
    expect(fs.readFileSync(target, "utf8")).toBe("a".repeat(1000) + "b".repeat(1000) + "c".repeat(1000) + "d".repeat(1000));
    expect(listing()).toEqual([name]);
    await expect(writer.write(bytes("x"))).rejects.toThrow("write() on a checkpoint writer that was committed");

    const aborted = await openAtomicFileAsync(target);
    await aborted.write(bytes("partial"));
    await aborted.abort();
    await aborted.abort();
    expect(listing()).toEqual([name]);
    expect(fs.readFileSync(target, "utf8")).toHaveLength(4000);
  });

  test("a failed write or commit removes the temporary, releases the lock and leaves the target untouched", async () => {
    fs.writeFileSync(target, "previous");
    const writeSync = fs.writeSync;
    jest.spyOn(nodeFs, "writeSync").mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
      if ((args as unknown[])[3] === 7) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      return (writeSync as (...a: unknown[]) => number)(...args);
    }) as typeof fs.writeSync);
    const writer = openAtomicFile(target);
    writer.write(bytes("fits"));
    expect(() => writer.write(bytes("too big"))).toThrow("ENOSPC");
    expect(listing()).toEqual([name]);
    writer.abort(); // safe after a failed write
    expect(() => writeFileAtomic(target, [bytes("a"), bytes("too big")])).toThrow("ENOSPC");
    expect(listing()).toEqual([name]);
    jest.restoreAllMocks();

    jest.spyOn(nodeFs, "renameSync").mockImplementationOnce(() => {
      throw Object.assign(new Error("EXDEV: cross-device link not permitted, rename"), { code: "EXDEV" });
    });
    expect(() => writeFileAtomic(target, [bytes("new")])).toThrow("EXDEV");
    expect(listing()).toEqual([name]);
    expect(fs.readFileSync(target, "utf8")).toBe("previous");

    jest.spyOn(nodeFs.promises, "rename").mockRejectedValueOnce(Object.assign(new Error("EXDEV: cross-device link not permitted, rename"), { code: "EXDEV" }));
    const asyncWriter = await openAtomicFileAsync(target);
    await asyncWriter.write(bytes("new"));
    await expect(asyncWriter.commit()).rejects.toThrow("EXDEV");
    await asyncWriter.abort();
    expect(listing()).toEqual([name]);
    expect(fs.readFileSync(target, "utf8")).toBe("previous");
  });

  test("a chunk over 2 GiB is written in calls Node accepts (a length is an int32)", () => {
    const lengths: number[] = [];
    const huge = new Uint8Array(3 * 2 ** 30); // zero pages, never touched: the mock reads nothing
    const writeSync = fs.writeSync;
    jest.spyOn(nodeFs, "writeSync").mockImplementation(((...args: unknown[]) => {
      if (args[1] !== huge) return (writeSync as (...a: unknown[]) => number)(...args); // the lock's record
      lengths.push(args[3] as number);
      return Math.min(args[3] as number, 123_456_789); // and short writes, as the kernel may make
    }) as typeof fs.writeSync);
    const writer = openAtomicFile(target);
    writer.write(huge);
    writer.abort();
    expect(lengths.reduce((sum, n) => sum + Math.min(n, 123_456_789), 0)).toBe(huge.byteLength);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(2 ** 31 - 1);
  });
});

describe("one save at a time", () => {
  test("a second save to a path in progress fails with ERR_MICROADAM_CHECKPOINT_BUSY naming the path and the holder, and leaves nothing", async () => {
    const first = openAtomicFile(target);
    first.write(bytes("first"));
    const before = listing();
    const error = thrown(() => openAtomicFile(target));
    expect(error).toMatchObject({ code: "ERR_MICROADAM_CHECKPOINT_BUSY", pid: process.pid, message: busyMessage(process.pid, true) });
    expect(() => writeFileAtomic(target, [bytes("second")])).toThrow(busyMessage(process.pid, true));
    await expect(openAtomicFileAsync(target)).rejects.toMatchObject({ code: "ERR_MICROADAM_CHECKPOINT_BUSY", message: busyMessage(process.pid, true) });
    expect(listing()).toEqual(before);
    first.commit();
    writeFileAtomic(target, [bytes("second")]); // free again
    expect(fs.readFileSync(target, "utf8")).toBe("second");
    expect(listing()).toEqual([name]);
  });

  test("targets whose names share a prefix have their own locks and temporaries", () => {
    const long = "n".repeat(150);
    const writers = [name, `${name}.1`, `${long}a`, `${long}b`].map((file) => openAtomicFile(path.join(directory, file)));
    for (const writer of writers) writer.commit();
    expect(listing()).toEqual([name, `${name}.1`, `${long}a`, `${long}b`].sort());
  });
});

describe("what a save removes, and what it never removes", () => {
  const temporary = (pid: number, start?: string) => `.${name}.${start === undefined ? pid : `${pid}-${start}`}.${"0123456789ab"}.tmp`;

  test("a dead owner's lock is taken over and the temporaries of dead writers are removed; a live process's and other files are kept", () => {
    const dead = deadPid();
    fs.writeFileSync(lockPath(), record({ pid: dead, start: "1" }));
    const removed = [temporary(dead), temporary(dead, "1")];
    const kept = [
      temporary(process.pid), // a live writer that took no lock (an older version) or waits for it
      ...(hasProc ? [temporary(process.pid, startOf("self"))] : []),
      `.${name}.1.${dead}.0123456789ab.tmp`, // the temporary of "model.ckpt.1", not ours to judge
      `.${name}.${dead}.0123456789ab.tmp.keep`,
      `.${name}.notes`,
    ];
    for (const file of [...removed, ...kept]) fs.writeFileSync(path.join(directory, file), "left");
    writeFileAtomic(target, [bytes("new")]);
    expect(listing()).toEqual([name, ...kept].sort());
    expect(fs.readFileSync(target, "utf8")).toBe("new");
  });

  procTest("a reused pid is told apart by its start time, a lock of an earlier boot is stale, a zombie is dead", async () => {
    fs.writeFileSync(lockPath(), record({ start: "1" })); // this pid, but another process's start
    fs.writeFileSync(path.join(directory, temporary(process.pid, "1")), "left");
    writeFileAtomic(target, [bytes("a")]);
    expect(listing()).toEqual([name]);

    fs.writeFileSync(lockPath(), record({ boot: "00000000-0000-0000-0000-000000000000" }));
    writeFileAtomic(target, [bytes("b")]);
    expect(listing()).toEqual([name]);

    // sh starts `sleep 0` and becomes `sleep 10`, which never reaps it: a zombie while sleep 10 runs.
    const shell = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 10"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const zombie = Number(await new Promise<string>((resolve) => shell.stdout.setEncoding("utf8").once("data", resolve)));
      for (let i = 0; i < 200 && !/\) Z /.test(fs.readFileSync(`/proc/${zombie}/stat`, "utf8")); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(fs.readFileSync(`/proc/${zombie}/stat`, "utf8")).toMatch(/\) Z /);
      fs.writeFileSync(lockPath(), record({ pid: zombie, start: startOf(zombie) }));
      writeFileAtomic(target, [bytes("c")]);
      expect(listing()).toEqual([name]);
    } finally {
      shell.kill("SIGKILL");
    }
  });

  test("a live owner's lock, and one of another host or pid namespace, is never taken over", () => {
    const live = record({});
    fs.writeFileSync(lockPath(), live);
    expect(thrown(() => openAtomicFile(target)).message).toBe(busyMessage(process.pid, true));

    fs.writeFileSync(lockPath(), record({ pid: deadPid(), host: "elsewhere" }));
    const foreign = thrown(() => openAtomicFile(target));
    expect(foreign.code).toBe("ERR_MICROADAM_CHECKPOINT_BUSY");
    expect(foreign.message).toMatch(
      new RegExp(`^cannot save ${target}: another save to it is in progress in process \\d+ on elsewhere( \\(pid namespace .*\\))?, which cannot be checked from here; it holds the lock ${lockPath()}: remove that file if that process no longer runs$`),
    );
    if (hasProc) {
      fs.writeFileSync(lockPath(), record({ pid: deadPid(), pidNamespace: "pid:[1]" }));
      expect(thrown(() => openAtomicFile(target)).message).toContain("(pid namespace pid:[1]), which cannot be checked from here");
    }
    expect(listing()).toEqual([`.${name}.lock`]);
  });

  test("a lock without a readable record is one being created while young, and stale after 10 s", () => {
    fs.writeFileSync(lockPath(), "");
    expect(thrown(() => openAtomicFile(target)).message).toBe(`cannot save ${target}: another save to it is in progress (a process is creating its lock ${lockPath()})`);
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(lockPath(), past, past);
    writeFileAtomic(target, [bytes("new")]);
    expect(listing()).toEqual([name]);
  });

  test("a lock that another process published while this one took over a stale one is put back", () => {
    const dead = deadPid();
    fs.writeFileSync(lockPath(), record({ pid: dead }));
    const renameSync = fs.renameSync;
    const live = record({ token: "fedcba9876543210" });
    jest.spyOn(nodeFs, "renameSync").mockImplementationOnce((from, to) => {
      // Between this save's judgment and its rename, another taker replaced the stale lock.
      fs.unlinkSync(lockPath());
      fs.writeFileSync(lockPath(), live);
      renameSync(from, to);
    });
    expect(thrown(() => openAtomicFile(target))).toMatchObject({ code: "ERR_MICROADAM_CHECKPOINT_BUSY", message: busyMessage(process.pid, true) });
    expect(fs.readFileSync(lockPath(), "utf8")).toBe(live);
    expect(listing()).toEqual([`.${name}.lock`]);
  });

  test("where hard links are unsupported, the lock is created in place and works the same", async () => {
    jest.spyOn(nodeFs, "linkSync").mockImplementation(() => {
      throw Object.assign(new Error("EPERM: operation not permitted, link"), { code: "EPERM" });
    });
    jest.spyOn(nodeFs.promises, "link").mockRejectedValue(Object.assign(new Error("EPERM: operation not permitted, link"), { code: "EPERM" }));
    fs.writeFileSync(lockPath(), record({ pid: deadPid() }));
    const writer = openAtomicFile(target);
    expect(() => openAtomicFile(target)).toThrow(busyMessage(process.pid, true));
    await expect(openAtomicFileAsync(target)).rejects.toThrow(busyMessage(process.pid, true));
    writer.write(bytes("new"));
    writer.commit();
    expect(listing()).toEqual([name]);
  });

  test("without /proc (macOS), signal 0 decides: a dead pid's lock and temporaries go, a live pid's stay even with another start time", () => {
    const withoutProc = (file: unknown) => {
      if (String(file).startsWith("/proc/")) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${String(file)}'`), { code: "ENOENT" });
    };
    const readFileSync = fs.readFileSync;
    const readlinkSync = fs.readlinkSync;
    jest.spyOn(nodeFs, "readFileSync").mockImplementation(((file: fs.PathOrFileDescriptor, options?: unknown) => {
      withoutProc(file);
      return (readFileSync as (...a: unknown[]) => unknown)(file, options);
    }) as typeof fs.readFileSync);
    jest.spyOn(nodeFs, "readlinkSync").mockImplementation(((file: fs.PathLike, options?: unknown) => {
      withoutProc(file);
      return (readlinkSync as (...a: unknown[]) => unknown)(file, options);
    }) as typeof fs.readlinkSync);
    let isolated!: typeof import("../lib/checkpoint/file");
    jest.isolateModules(() => (isolated = jest.requireActual("../lib/checkpoint/file"))); // a fresh copy: it learns its identity again
    const dead = deadPid();
    fs.writeFileSync(lockPath(), JSON.stringify({ pid: dead, host: os.hostname(), token: "0" }));
    for (const file of [temporary(dead), temporary(dead, "1"), temporary(process.pid, "1")]) fs.writeFileSync(path.join(directory, file), "left");
    const writer = isolated.openAtomicFile(target);
    const files = listing();
    expect(files).toHaveLength(3);
    expect(files).toEqual(expect.arrayContaining([`.${name}.lock`, temporary(process.pid, "1")]));
    const own = files.filter((file) => file !== `.${name}.lock` && file !== temporary(process.pid, "1"));
    expect(own).toEqual([expect.stringMatching(new RegExp(`^\\.model\\.ckpt\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`))]); // no start time in its name
    writer.commit();
    // What signal 0 cannot tell: a lock whose pid now belongs to another live process looks held.
    fs.writeFileSync(lockPath(), JSON.stringify({ pid: process.pid, start: "1", host: os.hostname(), token: "0" }));
    expect(() => isolated.openAtomicFile(target)).toThrow(busyMessage(process.pid, true));
  });
});
