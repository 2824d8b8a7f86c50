// microadam-native/distributed/tfjs: data-parallel training with TensorFlow.js (docs/distributed.md,
// "TensorFlow.js"). Each rank runs model.fit / trainOnBatch on its own slice of every batch;
// this optimizer's applyGradients steps a ShardedMicroAdam on the rank-order mean of all ranks'
// gradients, so the model stays the same, bit for bit, on every rank.
import * as tf from "@tensorflow/tfjs";
import type { StepResult } from "../types";
import { typeError, withCode } from "../validate";
import { ProcessGroup } from "./process-group";
import { ShardedMicroAdam, type ShardedMicroAdamOptions } from "./sharded-optimizer";

export interface DataParallelOptions extends Omit<ShardedMicroAdamOptions, "lr"> {
  learningRate: number;
}

/**
 * A tf.Optimizer that steps every registered variable it is given gradients for, sharded over the
 * ranks of `group`. tfjs calls applyGradients synchronously, so the step's collectives block the
 * JS thread (ShardedMicroAdam.stepSync); every rank must take the same number of steps.
 */
export class DataParallelMicroAdamOptimizer extends tf.Optimizer {
  static readonly className = "DataParallelMicroAdamOptimizer";
  readonly group: ProcessGroup;
  private readonly options: DataParallelOptions;
  private sharded?: ShardedMicroAdam;
  private names: string[] = [];
  private variables: tf.Variable[] = [];
  private params: Float32Array[] = [];
  /** The last step's result. */
  lastStep?: StepResult;

  constructor(group: ProcessGroup, options: DataParallelOptions) {
    super();
    if (!(group instanceof ProcessGroup)) throw typeError("group", "a ProcessGroup (ProcessGroup.init())", group);
    this.group = group;
    this.options = { ...options };
  }

  /** The sharded optimizer (after the first step): state bytes per rank, sharded checkpoints. */
  get shardedOptimizer(): ShardedMicroAdam | undefined {
    return this.sharded;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const named = Array.isArray(variableGradients)
      ? variableGradients.filter((g) => g?.tensor != null).map((g) => ({ name: g.name, tensor: g.tensor }))
      : Object.keys(variableGradients)
          .filter((name) => variableGradients[name] != null)
          .map((name) => ({ name, tensor: variableGradients[name] }));
    if (this.sharded === undefined) this.start(named.map((g) => g.name));
    else if (named.map((g) => g.name).join("\n") !== this.names.join("\n"))
      throw withCode(
        new RangeError(`variableGradients must name the same variables in the same order at every step: [${this.names.join(", ")}], got [${named.map((g) => g.name).join(", ")}]`),
        "ERR_OUT_OF_RANGE",
      );
    const grads = named.map(({ name, tensor }, i) => {
      if (tensor.dtype !== "float32" || tensor.size !== this.params[i].length)
        throw typeError(`variableGradients ('${name}')`, `a float32 gradient of ${this.params[i].length} elements`, tensor);
      return tensor.dataSync() as Float32Array;
    });
    this.lastStep = this.sharded!.stepSync(grads);
    if (!this.lastStep.skipped) tf.tidy(() => this.variables.forEach((v, i) => v.assign(tf.tensor(this.params[i], v.shape, "float32"))));
    this.incrementIterations();
  }

  /** At the first step: every variable starts from rank 0's values, and the sharded optimizer is built. */
  private start(names: string[]): void {
    const registered = tf.engine().registeredVariables;
    this.variables = names.map((name) => {
      const v = registered[name];
      if (v === undefined || v.dtype !== "float32") throw typeError(`variableGradients ('${name}')`, "the gradient of a registered float32 variable", v);
      return v;
    });
    this.params = this.variables.map((v) => (v.dataSync() as Float32Array).slice());
    for (const p of this.params) this.group.native.broadcastSync(p, 0);
    const { learningRate, ...rest } = this.options;
    this.sharded = ShardedMicroAdam.createSync(this.params, { lr: learningRate, ...rest }, this.group);
    this.names = names;
    // Rank 0's initial values (the gradients of this first step were taken on each rank's own).
    tf.tidy(() => this.variables.forEach((v, i) => v.assign(tf.tensor(this.params[i], v.shape, "float32"))));
  }

  /** Only the iteration count: the state is sharded; save it with shardedOptimizer.save(directory). */
  override async getWeights(): Promise<{ name: string; tensor: tf.Tensor }[]> {
    return [await this.saveIterations()];
  }

  override async setWeights(): Promise<void> {
    throw withCode(
      new Error("DataParallelMicroAdamOptimizer: its state is sharded over the ranks; restore it with shardedOptimizer.load(directory), not setWeights"),
      "ERR_MICROADAM_DISTRIBUTED",
    );
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.options } as unknown as tf.serialization.ConfigDict;
  }

  override dispose(): void {
    this.sharded?.dispose();
    super.dispose();
  }
}

/**
 * Sets every rank's model weights to rank 0's (call it before training, so every rank starts
 * from the same weights).
 */
export function broadcastModel(model: tf.LayersModel, group: ProcessGroup): void {
  const weights = model.getWeights().map((w) => {
    const values = (w.dataSync() as Float32Array).slice();
    group.native.broadcastSync(values, 0);
    return tf.tensor(values, w.shape, "float32");
  });
  model.setWeights(weights);
  tf.dispose(weights);
}

tf.serialization.registerClass(DataParallelMicroAdamOptimizer);
