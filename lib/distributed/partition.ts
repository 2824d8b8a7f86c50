// Which elements of which tensors each rank steps (docs/distributed.md, "What each rank holds").
// Pure arithmetic, no MPI: every rank computes the same partition from the same tensor sizes.
//
// Cuts fall at multiples of lcm(topkBlockSize, quantBlockSize) inside each tensor, where the
// MicroAdam step is exactly separable: every Top-K block and quantization bucket lies wholly in
// one piece, and a piece's state is the slice of the whole tensor's state (snapshot-slices.ts).

/** A contiguous range [begin, end) of one tensor's elements, stepped by one rank. */
export interface Piece {
  /** The tensor's index in the flattened param groups. */
  tensor: number;
  begin: number;
  end: number;
}

export interface Partition {
  /** Elements per cut unit: lcm(topkBlockSize, quantBlockSize). */
  unit: number;
  /** pieces[r]: what rank r steps, in flattened tensor order. */
  pieces: Piece[][];
  /** counts[r]: elements rank r steps. */
  counts: number[];
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * Cuts the flat sequence of all tensors' elements (tensor 0 first) into `worldSize` contiguous
 * ranges, balanced by element count: rank r's range ends at the unit boundary nearest to
 * (r + 1)·total/worldSize (never before the previous cut). A rank may get nothing when there are
 * fewer units than ranks.
 */
export function partition(numels: readonly number[], worldSize: number, topkBlockSize: number, quantBlockSize: number): Partition {
  const unit = lcm(topkBlockSize, quantBlockSize);
  const total = numels.reduce((a, b) => a + b, 0);
  // Unit boundaries in flat coordinates, ascending (0 excluded, total included).
  const boundaries: number[] = [];
  let start = 0;
  for (const n of numels) {
    for (let at = unit; at < n; at += unit) boundaries.push(start + at);
    start += n;
    boundaries.push(start);
  }
  const cuts: number[] = [0];
  for (let r = 1; r < worldSize; r++) {
    const target = (r * total) / worldSize;
    // Binary search for the first boundary >= target, then take the nearer of it and the one before.
    let lo = 0;
    let hi = boundaries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (boundaries[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    let cut = boundaries[lo];
    if (lo > 0 && target - boundaries[lo - 1] <= cut - target) cut = boundaries[lo - 1];
    cuts.push(Math.max(cut, cuts[r - 1]));
  }
  cuts.push(total);
  const pieces: Piece[][] = [];
  const counts: number[] = [];
  for (let r = 0; r < worldSize; r++) {
    const [from, to] = [cuts[r], cuts[r + 1]];
    const own: Piece[] = [];
    let base = 0;
    numels.forEach((n, tensor) => {
      const begin = Math.max(from, base) - base;
      const end = Math.min(to, base + n) - base;
      if (begin < end) own.push({ tensor, begin, end });
      base += n;
    });
    pieces.push(own);
    counts.push(to - from);
  }
  return { unit, pieces, counts };
}

/** k_j of a block of `size` elements (docs/algorithm.md, "Layout of one tensor"). */
export function keepCount(size: number, density: number): number {
  return Math.min(size, Math.max(1, Math.ceil(size * density - 1e-9)));
}

/** State bytes of a tensor (or piece) of n elements: ⌈n/2⌉ + 4⌈n/Q⌉ + 4·m·K. */
export function stateBytesOf(numel: number, layout: { window: number; density: number; topkBlockSize: number; quantBlockSize: number }): number {
  let rowLength = 0;
  for (let at = 0; at < numel; at += layout.topkBlockSize) rowLength += keepCount(Math.min(layout.topkBlockSize, numel - at), layout.density);
  return Math.ceil(numel / 2) + 4 * Math.ceil(numel / layout.quantBlockSize) + 4 * layout.window * rowLength;
}
