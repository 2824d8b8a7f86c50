// The distributed addon's communication thread is named microadam-mpi (csrc/distributed/
// mpi_group.cpp), so a profile tells its CPU time apart from Open MPI's and Node's threads:
// bench/distributed-step.js --skew-ms and examples/mnist-data-parallel.ts read it from /proc
// (docs/distributed.md, "Measured"). Linux only, like the other mpirun tests.
import * as path from "node:path";
import { expectSuccess, mpiMissing, mpirun, root } from "./distributed/mpi";

const missing = mpiMissing() ?? (process.platform === "linux" ? undefined : "thread names are read from /proc (Linux)");
if (missing) console.warn(`SKIPPED: communication thread profile: ${missing}`);
const withMpi = missing ? describe.skip : describe;

withMpi("bench/distributed-step.js --skew-ms (mpirun, 2 ranks)", () => {
  test("rank 0 finds its communication thread by name and measures its CPU time while it waits for the late rank", async () => {
    const run = await mpirun(2, path.join(root, "bench", "distributed-step.js"), ["--total", "20000", "--tensors", "2", "--steps", "12", "--skew-ms", "20"]);
    expectSuccess(run);
    const result = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(result).toMatchObject({ worldSize: 2, skewMs: 20 });
    // 0 when no thread is named microadam-mpi; the thread polls for about 20 ms per step here.
    expect(result.commThreadCpuMsPerStep).toBeGreaterThan(0);
    // Rank 0's step cannot return before the late rank has called step().
    expect(result.afterLastRankMsMedian).toBeGreaterThan(0);
    expect(result.stepMsMedian).toBeGreaterThan(10);
  });
});
