// The convergence benchmark (bench/convergence.ts) in its --quick form: every phase runs end to
// end on a sliver of MNIST and writes its JSON, the report and the charts. The real numbers are in
// docs/convergence.md; this keeps the code that makes them from rotting.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { conv2dValid } from "../bench/convergence/conv2d";

const root = path.resolve(__dirname, "..");

test("conv2dValid (im2col + matMul) matches tf.conv2d in value and in both gradients", () => {
  const x = tf.randomNormal([2, 9, 8, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const filter = tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 2) as tf.Tensor4D;
  for (const stride of [1, 2]) {
    const expected = tf.conv2d(x, filter, stride, "valid");
    const actual = conv2dValid(x, tf.reshape(filter, [27, 4]) as tf.Tensor2D, 3, stride);
    expect(actual.shape).toEqual(expected.shape);
    expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]).toBeLessThan(1e-5);
    const loss = (conv: (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(conv(a as tf.Tensor4D, b as tf.Tensor4D)));
    const [dxRef, dfRef] = tf.grads(loss((a, b) => tf.conv2d(a, b, stride, "valid")))([x, filter]);
    const [dx, df] = tf.grads(loss((a, b) => conv2dValid(a, tf.reshape(b, [27, 4]) as tf.Tensor2D, 3, stride)))([x, filter]);
    expect(tf.max(tf.abs(tf.sub(dx, dxRef))).dataSync()[0]).toBeLessThan(1e-4);
    expect(tf.max(tf.abs(tf.sub(df, dfRef))).dataSync()[0]).toBeLessThan(1e-4);
    tf.dispose([expected, actual, dxRef, dfRef, dx, df]);
  }
  tf.dispose([x, filter]);
});

test("bench/convergence.ts --quick runs every phase and writes results, report and charts", async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "convergence-bench-"));
  try {
    const tsNode = path.join(root, "node_modules", ".bin", "ts-node");
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(tsNode, ["bench/convergence.ts", "--quick", "--no-progress", "--out", out], { cwd: root, timeout: 110_000 }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }),
      ),
    );
    if (code !== 0) throw new Error(`exit code ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
    expect(stdout).toMatch(/^final mlp microadam lr=[\d.]+ seed=1: test accuracy [\d.]+%/m);
    expect(stdout).toMatch(/^ablation mlp microadam-noef lr=[\d.]+ seed=1: test accuracy/m);
    expect(stdout).toMatch(/^overhead MLP 784-128-10 .*: tfjs Adam [\d.]+ ms, MicroAdamOptimizer [\d.]+ ms/m);

    const mlp = JSON.parse(fs.readFileSync(path.join(out, "convergence-mlp.json"), "utf8"));
    expect(mlp.format).toBe("microadam-native/convergence-results");
    const phases = (mlp.runs as { phase: string }[]).map((r) => r.phase);
    expect(phases.filter((p) => p === "sweep")).toHaveLength(2 * 3); // 2 learning rates × 3 optimizers
    expect(phases.filter((p) => p === "final")).toHaveLength(3);
    expect(phases.filter((p) => p === "ablation")).toHaveLength(3);
    const adam = mlp.runs.find((r: { phase: string; optimizer: string }) => r.phase === "final" && r.optimizer === "adam");
    expect(adam.stateBytes).toBe(8 * 101_770);
    const micro = mlp.runs.find((r: { phase: string; optimizer: string }) => r.phase === "final" && r.optimizer === "microadam");
    expect(micro.stateBytes).toBeLessThan(adam.stateBytes / 8);

    const report = fs.readFileSync(path.join(out, "convergence.md"), "utf8");
    expect(report).toContain("# Does MicroAdam train as well as Adam?");
    expect(report).toMatch(/\| mlp \| MicroAdam \(m=10, 1%\) \| [\d.]+/);
    expect(report).toMatch(/\| cnn \| tfjs Adam \|/);
    expect(report).toMatch(/- \*\*mlp\*\*: MicroAdam − Adam = [−+][\d.]+ percentage points/);
    expect(report).toContain("| MicroAdam, no error feedback |");
    expect(report).toContain("## Cost of the tfjs wrappers");
    for (const chart of ["mlp.svg", "cnn.svg", "ablation-mlp.svg"]) {
      const svg = fs.readFileSync(path.join(out, "convergence", chart), "utf8");
      expect(svg).toMatch(/^<svg /);
      expect(svg).toContain("tfjs Adam");
    }

    // A second run finds every run done and only redoes the report.
    const again = await new Promise<string>((resolve, reject) =>
      execFile(tsNode, ["bench/convergence.ts", "--quick", "--no-progress", "--out", out, "--phase", "sweep,final,report"], { cwd: root, timeout: 60_000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    );
    expect(again).not.toMatch(/^(sweep|final) /m);
    expect(again).toContain("wrote ");
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 180_000);
