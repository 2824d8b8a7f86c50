// A transformer-like list of tensor sizes and its data, shared by the benchmarks that step a
// model of many tensors (bench/many-tensors.ts, bench/dense-below.ts).

/** Sizes like a transformer's: an embedding, `layers` × 6 matrices, and many small vectors. */
export function modelSizes(total: number, tensors: number, layers: number, width: number, seed: number): { sizes: number[]; vectors: Record<string, number> } {
  const random = xorshift(seed);
  const vectorCount = tensors - 1 - 6 * layers;
  if (vectorCount < 0) throw new RangeError(`--tensors ${tensors} is fewer than the ${1 + 6 * layers} matrices of ${layers} layers`);
  // Vector sizes drawn per vector: a per-head norm (64), a bias or LayerNorm (width), an MLP bias (4 width).
  const choices = [
    { size: 64, weight: 0.3 },
    { size: width, weight: 0.55 },
    { size: 4 * width, weight: 0.15 },
  ];
  const vectorsOf: number[][] = Array.from({ length: layers }, () => []);
  const vectors: Record<string, number> = {};
  for (let i = 0; i < vectorCount; i++) {
    let u = random();
    const choice = choices.find((c) => (u -= c.weight) < 0) ?? choices[choices.length - 1];
    vectorsOf[i % layers].push(choice.size);
    vectors[choice.size] = (vectors[choice.size] ?? 0) + 1;
  }
  const layerSizes: number[] = [];
  for (let l = 0; l < layers; l++) {
    const [q, k, v, o, up, down] = [width * width, width * width, width * width, width * width, width * 4 * width, 4 * width * width];
    layerSizes.push(q, k, v, o, up, down, ...vectorsOf[l]);
  }
  const embedding = total - layerSizes.reduce((a, b) => a + b, 0); // takes the remainder: the total is exact
  if (embedding < width) throw new RangeError(`--total ${total} is too small for ${layers} layers of width ${width}`);
  return { sizes: [embedding, ...layerSizes], vectors };
}

export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** Params in ±0.05, grads roughly bell-shaped with a scale that changes every 4,096 elements. */
export function fill(params: Float32Array, grads: Float32Array, seed: number): void {
  const random = xorshift(seed);
  let scale = 1e-3;
  for (let i = 0; i < params.length; i++) {
    if ((i & 4095) === 0) scale = 1e-4 * (1 + 20 * random());
    params[i] = (random() - 0.5) * 0.1;
    grads[i] = (random() + random() + random() - 1.5) * scale;
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
