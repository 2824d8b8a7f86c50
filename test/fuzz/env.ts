// How a fuzz driver (driver.ts) is started, for test/fuzz/run.ts (the jest tests) and bench/fuzz.ts.
import * as path from "path";

export const DRIVER_ARGS = ["--expose-gc", "-r", "ts-node/register/transpile-only", path.join(__dirname, "driver.ts")];

/**
 * ts-node's project, and a fixed malloc mmap threshold: a freed buffer of 64 KB or more is then
 * unmapped at once, so a use after free is a crash (glibc otherwise raises the threshold after
 * the first such free and keeps the memory mapped, which would hide it).
 */
export const FUZZ_ENV = {
  TS_NODE_PROJECT: path.join(__dirname, "../../tsconfig.json"),
  GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=65536",
};
