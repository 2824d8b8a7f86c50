// The fuzz targets: fast-check properties that throw hostile arguments (hostile.ts) at every
// entry point of the facade (api), the raw native binding (native), calls made while an async
// step is in flight (async), and damaged checkpoints (checkpoint). Each property holds when a
// call either succeeds or throws an Error, and a call that throws leaves the fixture's state,
// params and hyperparameters exactly as they were (fixture.ts). A crash is the child process
// dying: test/fuzz.test.ts and bench/fuzz.ts run these in child processes (driver.ts).
import { apiTarget } from "./api-target";
import { asyncTarget } from "./async-target";
import { checkpointTarget } from "./checkpoint-target";
import { nativeTarget } from "./native-target";

export { stats } from "./fixture";

export const TARGETS: Record<string, (runs: number, seed: number) => Promise<void>> = {
  api: apiTarget,
  native: nativeTarget,
  async: asyncTarget,
  checkpoint: checkpointTarget,
};
