// Timing: warm-up calls, then the median of repeated calls.
export interface Timing {
  medianMs: number;
  minMs: number;
  repetitions: number;
}

export function time(run: () => void, { warmup, repetitions }: { warmup: number; repetitions: number }): Timing {
  for (let i = 0; i < warmup; i++) run();
  const samples: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    const start = process.hrtime.bigint();
    run();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)], minMs: samples[0], repetitions };
}

/** Fewer repetitions for slower cases, so a full run stays within minutes on 2 cores. */
export function repetitionsFor(numel: number, slow: boolean): { warmup: number; repetitions: number } {
  if (slow) return { warmup: 1, repetitions: 3 };
  if (numel <= 2 * 1024 * 1024) return { warmup: 5, repetitions: 21 };
  if (numel <= 32 * 1024 * 1024) return { warmup: 2, repetitions: 9 };
  return { warmup: 1, repetitions: 5 };
}

/** "16M" -> 16 * 2^20, "1000" -> 1000. */
export function parseCount(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(text.trim());
  if (!match) throw new RangeError(`Expected a count like 1000, 64K, 16M for --numel but received "${text}"`);
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase() as "" | "k" | "m" | "g"];
  return Math.round(Number(match[1]) * scale);
}

export function formatCount(n: number): string {
  if (n % 1024 ** 2 === 0) return `${n / 1024 ** 2}M`;
  if (n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}
