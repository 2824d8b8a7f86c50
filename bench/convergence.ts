// Does MicroAdam train as well as Adam? Real MNIST digits, two models (an MLP and a small CNN),
// three optimizers (MicroAdam at the paper's defaults, tfjs's Adam, the native AdamW), each with
// its peak learning rate picked by a sweep on a validation split, then several seeds; plus an
// ablation of MicroAdam's parts and the per-step cost of the tfjs wrappers. Writes JSON under
// bench/results/ and the report docs/convergence.md with its charts.
//
//   nice -n 15 npx ts-node bench/convergence.ts [--phase sweep,final,ablation,overhead,report|all]
//                                               [--model mlp|cnn|all] [--quick] [--out DIR] [--docs FILE]
//
// Every finished run is saved at once and skipped when the command is run again, so an
// interrupted benchmark resumes where it stopped.

import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { loadMnistSplit, type MnistSet } from "../examples/mnist/data";
import { MODEL_NAMES, type ModelName } from "./convergence/models";
import { measureOverhead } from "./convergence/overhead";
import { ABLATION_NAMES, OPTIMIZER_NAMES, type VariantName } from "./convergence/optimizers";
import { writeReport } from "./convergence/report";
import {
  machineInfo,
  modelResultsFile,
  overheadFile,
  readModelResults,
  writeJson,
  type ModelResults,
  type Phase,
} from "./convergence/results";
import { chosenLr, FULL, matches, QUICK, runKey, type Settings } from "./convergence/settings";
import { trainRun } from "./convergence/train";

const PHASES = ["sweep", "final", "ablation", "overhead", "report"] as const;
type Step = (typeof PHASES)[number];

const USAGE = `Usage: ts-node bench/convergence.ts [options]
  --phase LIST   comma-separated steps: ${PHASES.join(", ")}, or all (default all)
  --model NAME   mlp, cnn or all (default all)
  --quick        a run of seconds on a sliver of the data (what the tests run); results go to a
                 temporary folder unless --out is given
  --out DIR      where the JSON results go (default bench/results)
  --docs FILE    where the report goes (default docs/convergence.md; charts beside it in
                 <name>/; with --quick, inside --out)
  --no-progress  no progress bars
  --help         this text`;

class UsageError extends Error {}

interface Cli {
  steps: Step[];
  models: ModelName[];
  quick: boolean;
  out: string;
  docs: string;
  progress: boolean;
}

function parseCli(argv: string[]): Cli {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        phase: { type: "string" },
        model: { type: "string" },
        quick: { type: "boolean" },
        out: { type: "string" },
        docs: { type: "string" },
        "no-progress": { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const phaseList = (values.phase ?? "all").split(",");
  const steps = phaseList.includes("all") ? [...PHASES] : phaseList;
  for (const s of steps)
    if (!(PHASES as readonly string[]).includes(s))
      throw new UsageError(`Expected one of ${PHASES.join(", ")}, all for --phase but received '${s}'`);
  const model = values.model ?? "all";
  if (model !== "all" && !(MODEL_NAMES as readonly string[]).includes(model))
    throw new UsageError(`Expected mlp, cnn or all for --model but received '${model}'`);
  const quick = values.quick === true;
  const root = path.join(__dirname, "..");
  const out = path.resolve(values.out ?? (quick ? path.join(os.tmpdir(), `microadam-convergence-quick-${process.pid}`) : path.join(root, "bench", "results")));
  const docs = path.resolve(values.docs ?? (quick ? path.join(out, "convergence.md") : path.join(root, "docs", "convergence.md")));
  return {
    steps: PHASES.filter((p) => steps.includes(p)),
    models: model === "all" ? [...MODEL_NAMES] : [model as ModelName],
    quick,
    out,
    docs,
    progress: values["no-progress"] !== true && process.stderr.isTTY === true,
  };
}

interface Data {
  train: MnistSet;
  test: MnistSet;
  sweepTrain: MnistSet;
  validation: MnistSet;
}

function subset(set: MnistSet, start: number, count: number): MnistSet {
  return {
    count,
    images: set.images.slice(start * 784, (start + count) * 784),
    labels: set.labels.slice(start, start + count),
  };
}

function loadData(settings: Settings): Data {
  const { train, test } = loadMnistSplit({ train: settings.train, test: settings.test, seed: settings.dataSeed });
  const sweepCount = settings.train - settings.validation;
  return { train, test, sweepTrain: subset(train, 0, sweepCount), validation: subset(train, sweepCount, settings.validation) };
}

function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** Runs (or finds) one configuration and saves the model's results after it. */
function ensureRun(
  cli: Cli,
  settings: Settings,
  data: Data,
  results: ModelResults,
  phase: Phase,
  optimizer: VariantName,
  lr: number,
  seed: number,
): void {
  const model = results.model;
  const key = runKey(settings, model, phase, optimizer, lr, seed);
  if (results.runs.some((r) => matches(r, key))) return;
  const label = `${phase} ${model} ${optimizer} lr=${lr} seed=${seed}`;
  const sweep = phase === "sweep";
  const run = trainRun(
    { model, optimizer, lr, seed, epochs: key.epochs, batch: settings.batch, warmupFraction: settings.warmupFraction },
    sweep ? data.sweepTrain : data.train,
    sweep ? data.validation : data.test,
    label,
    cli.progress,
  );
  results.runs.push({ ...run, phase, finishedAt: new Date().toISOString() });
  writeJson(modelResultsFile(cli.out, model), results);
  console.log(
    `${label}: ${sweep ? "validation" : "test"} accuracy ${percent(run.finalAccuracy)}, loss ${run.finalLoss.toFixed(4)}` +
      `${run.diverged ? " (diverged)" : ""}, ${run.wallSeconds.toFixed(1)} s, optimizer ${run.optimizerMsPerStep.toFixed(2)} ms/step, ` +
      `state ${run.stateBytes} bytes`,
  );
}

function requireChosenLr(results: ModelResults, settings: Settings, optimizer: VariantName): number {
  const chosen = chosenLr(results.runs, settings, results.model, optimizer);
  if (chosen === null) throw new UsageError(`The sweep of ${results.model}/${optimizer} is not complete: run --phase sweep first`);
  return chosen.lr;
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  const settings = cli.quick ? QUICK : FULL;
  await tf.setBackend("cpu");
  console.log(`results: ${cli.out}; report: ${cli.docs}; steps: ${cli.steps.join(", ")}; models: ${cli.models.join(", ")}`);
  const training = cli.steps.some((s) => s === "sweep" || s === "final" || s === "ablation");
  const data = training ? loadData(settings) : null;

  for (const model of cli.models) {
    const results = readModelResults(cli.out, model);
    if (cli.steps.includes("sweep"))
      for (const optimizer of OPTIMIZER_NAMES)
        for (const lr of settings.lrGrid) ensureRun(cli, settings, data!, results, "sweep", optimizer, lr, settings.sweepSeed);
    if (cli.steps.includes("final"))
      for (const optimizer of OPTIMIZER_NAMES) {
        const lr = requireChosenLr(results, settings, optimizer);
        for (const seed of settings.seeds) ensureRun(cli, settings, data!, results, "final", optimizer, lr, seed);
      }
    if (cli.steps.includes("ablation") && settings.ablationModels.includes(model)) {
      // Every ablation uses MicroAdam's chosen learning rate; m = 10 with error feedback is the final run.
      const lr = requireChosenLr(results, settings, "microadam");
      for (const variant of ABLATION_NAMES)
        for (const seed of settings.seeds) ensureRun(cli, settings, data!, results, "ablation", variant, lr, seed);
    }
  }

  if (cli.steps.includes("overhead")) {
    const cases = settings.overheadCases.map((c) => {
      const r = measureOverhead(c, settings.overheadRepeats);
      console.log(
        `overhead ${c.name}: tfjs Adam ${r.tfjsAdam.toFixed(2)} ms, MicroAdamOptimizer ${r.microAdamOptimizer.toFixed(2)} ms ` +
          `(native ${r.microAdamNative.toFixed(2)} ms), AdamWOptimizer ${r.adamWOptimizer.toFixed(2)} ms (native ${r.adamWNative.toFixed(2)} ms), ` +
          `copies ${r.copiesOnly.toFixed(2)} ms`,
      );
      return r;
    });
    writeJson(overheadFile(cli.out), { format: "microadam-native/tfjs-overhead", version: 1, machine: machineInfo(), cases });
  }

  if (cli.steps.includes("report")) {
    await writeReport({ settings, resultsDir: cli.out, docsFile: cli.docs, quick: cli.quick });
    console.log(`wrote ${cli.docs}`);
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.error(error);
  process.exitCode = 1;
});
