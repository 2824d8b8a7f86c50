// async: every call that touches a state while an async step on it is in flight must be refused
// (or, for dispose and setNumThreads, be safe), and the step must give what it gives alone.
import fc from "fast-check";
import * as fs from "fs";
import * as path from "path";
import { MicroAdamState, microAdamStep, microAdamStepAsync, setNumThreads } from "../../lib";
import { binding } from "../../lib/binding";
import { attemptAsync, Fixture, HYPER, sameSnapshot, tempDir } from "./fixture";

export async function asyncTarget(runs: number, seed: number): Promise<void> {
  const dir = tempDir();
  const fix = new Fixture(dir);
  const calls = ["step", "stepAsync", "snapshot", "restore", "save", "load", "loadBuffer", "toBuffer", "nativeStep", "threads", "optStep", "optLoad", "optSave", "dispose", "optDispose"] as const;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.constantFrom(...calls), { minLength: 1, maxLength: 6 }), fc.boolean(), async (sequence, optimizerFirst) => {
      fix.heal();
      const file = path.join(dir, "ckpt");
      fix.state.save(file);
      const buffer = fix.state.toBuffer();
      const optFile = path.join(dir, "opt");
      fix.optimizer.save(optFile);
      // What the step must give: the same step on a copy, run alone.
      const reference = MicroAdamState.fromBuffer(buffer);
      const expectedParams = fix.params.slice();
      microAdamStep(reference, expectedParams, fix.grads, { lr: 0.01 });
      const optReference = fix.optimizer.toBuffer();
      const before = fix.state.snapshot();

      const pending = optimizerFirst ? fix.optimizer.stepAsync([fix.grads, fix.grads.subarray(0, 33)]) : microAdamStepAsync(fix.state, fix.params, fix.grads, { lr: 0.01 });
      let disposed = false;
      let optimizerReloaded = false;
      const isBusy = (s: MicroAdamState) => {
        try {
          return s.busy;
        } catch {
          return false; // disposed
        }
      };
      for (const call of sequence) {
        const busyState = !optimizerFirst;
        // An awaited call lets the step finish, so what must be refused is decided call by call.
        const stillBusy = optimizerFirst ? (fix.optimizer.states as MicroAdamState[]).some(isBusy) : isBusy(fix.state);
        const threw = await attemptAsync(`${call} during an async step`, () => {
          switch (call) {
            case "step": return microAdamStep(fix.state, fix.params, fix.grads, { lr: 0.01 });
            case "stepAsync": return microAdamStepAsync(fix.state, fix.params, fix.grads, { lr: 0.01 });
            case "snapshot": return fix.state.snapshot();
            case "restore": return fix.state.restore(before);
            case "save": return fix.state.save(file);
            case "load": return fix.state.load(file);
            case "loadBuffer": return fix.state.loadBuffer(buffer);
            case "toBuffer": return fix.state.toBuffer();
            case "nativeStep": return binding.step([fix.state.native], [fix.params], [fix.grads], new Uint8Array(2), HYPER.slice(), 0);
            case "threads": return setNumThreads(1 + (sequence.length % 3));
            case "optStep": return fix.optimizer.step([fix.grads, fix.grads.subarray(0, 33)]);
            case "optLoad": return fix.optimizer.load(optFile);
            case "optSave": return fix.optimizer.save(optFile);
            case "dispose": return busyState ? ((disposed = true), fix.state.dispose()) : undefined;
            case "optDispose": return optimizerFirst ? ((disposed = true), fix.optimizer.dispose()) : undefined;
          }
        });
        const touchesBusy = ["optStep", "optLoad", "optSave"].includes(call) === optimizerFirst;
        const mustReject = !["threads", "dispose", "optDispose"].includes(call) && touchesBusy && (stillBusy || disposed);
        if (mustReject && !threw) throw new Error(`${call} during an async step was not rejected`);
        if (call === "optLoad" && !threw) optimizerReloaded = true;
      }
      await pending;
      setNumThreads(2);
      if (!disposed && !optimizerFirst) {
        if (!sameSnapshot(fix.state.snapshot(), reference.snapshot())) throw new Error("the async step's state differs from the same step run alone");
        if (!Buffer.from(fix.params.buffer).equals(Buffer.from(expectedParams.buffer))) throw new Error("the async step's params differ");
      }
      if (!disposed && optimizerFirst && !optimizerReloaded && Buffer.compare(fix.optimizer.toBuffer(), optReference) === 0)
        throw new Error("the optimizer's async step changed nothing");
      reference.dispose();
      if (disposed) fix.reset();
    }),
    { numRuns: runs, seed },
  );
  fs.rmSync(dir, { recursive: true, force: true });
}
