// Timing helpers for the benchmark: run a function N times and report median and p99 in milliseconds.
export interface Timing {
  median: number;
  p99: number;
  n: number;
}

export function summarize(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return { median: sorted[Math.floor(n / 2)], p99: sorted[Math.min(n - 1, Math.ceil(n * 0.99) - 1)], n };
}

export async function time(n: number, warmup: number, fn: () => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return summarize(samples);
}

export const ms = (x: number) => `${x.toFixed(3)} ms`;
