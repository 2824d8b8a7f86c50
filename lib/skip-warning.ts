// A step skipped for a NaN/Inf gradient (nonFinite 'skip') changes nothing and would otherwise be
// visible only in the step's return value: each optimizer counts them (skippedSteps) and emits
// one process warning, the first time, so a training loop that ignores the return value still
// hears of it.

/** The `code` of the warning an optimizer emits the first time it skips a step. */
export const STEP_SKIPPED_WARNING_CODE = "MICROADAM_STEP_SKIPPED";

/** Emits the skipped-step warning for `optimizer` (a class name) at its first skipped step. */
export function warnFirstSkippedStep(optimizer: string, step: number): void {
  process.emitWarning(
    `${optimizer} skipped step ${step}: a gradient held NaN or Inf (nonFinite: 'skip'), so no parameter or state ` +
      `changed. The optimizer's skippedSteps counts such steps; this warning is emitted once per optimizer. ` +
      `Use nonFinite: 'error' to throw instead.`,
    { type: "MicroAdamWarning", code: STEP_SKIPPED_WARNING_CODE },
  );
}
