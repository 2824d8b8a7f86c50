// An async step whose params or grads are detached (transferred), or shrunk, while it runs:
// for MicroAdam and AdamW, the function and class forms, and the raw binding. Run in a child
// process (test/async-buffers/scenarios.ts) so that a crash fails the test instead of jest.
import { spawnSync } from "child_process";
import * as path from "path";
import { SCENARIOS } from "./async-buffers/scenarios";

const root = path.join(__dirname, "..");
const names = Object.keys(SCENARIOS);
let run: { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

beforeAll(() => {
  run = spawnSync(
    process.execPath,
    ["--expose-gc", "-r", "ts-node/register/transpile-only", path.join(__dirname, "async-buffers/scenarios.ts"), ...names],
    {
      cwd: root,
      env: {
        ...process.env,
        TS_NODE_PROJECT: path.join(root, "tsconfig.json"),
        // Freed tensor memory is unmapped at once: a use after free is a crash, not silent damage.
        GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=65536",
        UV_THREADPOOL_SIZE: "2", // scenarios queue a step behind two others (occupyThreads)
      },
      encoding: "utf8",
      timeout: 120_000,
    },
  );
}, 130_000);

test("the child process exits cleanly (no crash)", () => {
  expect({ status: run.status, signal: run.signal, stderr: run.stderr.slice(-2000) }).toEqual({ status: 0, signal: null, stderr: "" });
});

test.each(names)("%s", (name) => {
  const line = run.stdout.split("\n").find((l) => l.endsWith(` ${name}`) || l.includes(` ${name}: `));
  expect(line).toBe(`ok ${name}`);
});
