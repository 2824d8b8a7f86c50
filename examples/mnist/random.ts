// A small seeded random source, so that a run (data split, batch order, initial weights) is the
// same every time for the same seed. Math.random cannot be seeded.

/** A source of uniform numbers in [0, 1), deterministic for a given seed. */
export type Random = () => number;

/** mulberry32: 32 bits of state, good enough for shuffling and weight initialization. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** 0, 1, …, count − 1 in a random order (Fisher–Yates). */
export function shuffledIndices(count: number, random: Random): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return order;
}
