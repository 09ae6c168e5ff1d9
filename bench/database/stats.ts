// Latency samples and the summaries the results page prints.

/** Latencies of one kind of operation, in milliseconds. */
export class Latencies {
  readonly samples: number[] = [];

  add(milliseconds: number): void {
    this.samples.push(milliseconds);
  }

  /** Runs `operation`, records its duration and returns its result. */
  async time<T>(operation: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const result = await operation();
    this.samples.push(performance.now() - start);
    return result;
  }

  merge(other: Latencies): void {
    for (const sample of other.samples) this.samples.push(sample);
  }

  get count(): number {
    return this.samples.length;
  }

  percentile(fraction: number): number {
    if (this.samples.length === 0) return Number.NaN;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
    return sorted[index] as number;
  }

  get p50(): number {
    return this.percentile(0.5);
  }

  get p99(): number {
    return this.percentile(0.99);
  }

  get max(): number {
    return this.samples.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
  }

  get mean(): number {
    if (this.samples.length === 0) return Number.NaN;
    return this.samples.reduce((a, b) => a + b, 0) / this.samples.length;
  }
}

/** Formats milliseconds with 2 decimals below 10 ms, 1 decimal below 1 s, and none above. */
export function formatMs(milliseconds: number): string {
  if (!Number.isFinite(milliseconds)) return 'n/a';
  if (milliseconds < 10) return `${milliseconds.toFixed(2)} ms`;
  if (milliseconds < 1000) return `${milliseconds.toFixed(1)} ms`;
  return `${(milliseconds / 1000).toFixed(1)} s`;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return 'n/a';
  return `${Math.round(perSecond).toLocaleString('en-US')}/s`;
}

export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'n/a';
  return `${ratio.toFixed(3)}x`;
}

export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

/** Returns a deterministic pseudo-random generator (mulberry32), so a run's choices reproduce from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles in place with the given generator (Fisher-Yates). */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
