// What one benchmark run measures: the step comparison (every contender at each size and
// dtype), then the scaling sweeps of MicroAdam alone.
import { allContenders, microAdam, nativeAdamW, type BenchDtype, type Contender, type MicroAdamLayout } from "./contenders";

export interface Case {
  group: "step" | "scaling-numel" | "scaling-window" | "scaling-density" | "scaling-threads";
  contender: Contender;
  numel: number;
  dtype: BenchDtype;
  layout: MicroAdamLayout;
  /** Engine threads; 0 = all hardware threads. */
  threads: number;
}

export const DEFAULT_LAYOUT: MicroAdamLayout = { window: 10, density: 0.01 };
const M = 1024 * 1024;

export function stepCases(sizes: number[], dtypes: BenchDtype[], contenders: Contender[] = allContenders): Case[] {
  const cases: Case[] = [];
  for (const dtype of dtypes)
    for (const numel of sizes)
      for (const contender of contenders)
        if (!contender.skipReason(numel, dtype))
          cases.push({ group: "step", contender, numel, dtype, layout: DEFAULT_LAYOUT, threads: 0 });
  return cases;
}

export function scalingCases(): Case[] {
  const base = { contender: microAdam, dtype: "f32" as const, threads: 0 };
  const cases: Case[] = [];
  for (const numel of [1, 4, 16, 64].map((x) => x * M))
    cases.push({ ...base, group: "scaling-numel", numel, layout: DEFAULT_LAYOUT });
  for (const window of [5, 10, 20])
    cases.push({ ...base, group: "scaling-window", numel: 16 * M, layout: { ...DEFAULT_LAYOUT, window } });
  for (const density of [0.005, 0.01, 0.02])
    cases.push({ ...base, group: "scaling-density", numel: 16 * M, layout: { ...DEFAULT_LAYOUT, density } });
  for (const contender of [microAdam, nativeAdamW])
    for (const threads of [1, 0])
      cases.push({ group: "scaling-threads", contender, numel: 16 * M, dtype: "f32", layout: DEFAULT_LAYOUT, threads });
  return cases;
}
