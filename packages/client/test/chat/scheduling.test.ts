import { afterEach, describe, expect, it, vi } from 'vitest';

import { Batcher, CoalescingRunner } from '../../src/chat/scheduling.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('CoalescingRunner', () => {
  it('merges a burst of requests into one more run', async () => {
    let runs = 0;
    const gate = deferred();
    const runner = new CoalescingRunner(async () => {
      runs++;
      if (runs === 1) {
        await gate.promise;
      }
    }, () => {});

    void runner.request();
    for (let i = 0; i < 50; i++) {
      void runner.request();
    }
    gate.resolve();
    await runner.idle();

    expect(runs).toBe(2);
  });

  it('never runs the task twice at once', async () => {
    let active = 0;
    let maxActive = 0;
    const runner = new CoalescingRunner(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 1));
      active--;
    }, () => {});

    await Promise.all(Array.from({ length: 20 }, () => runner.request()));
    await runner.idle();

    expect(maxActive).toBe(1);
  });

  it('reports errors and keeps working', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const runner = new CoalescingRunner(async () => {
      runs++;
      if (runs === 1) {
        throw new Error('first run failed');
      }
    }, (error) => errors.push(error));

    await runner.request();
    await runner.request();

    expect(errors).toHaveLength(1);
    expect(runs).toBe(2);
  });
});

describe('Batcher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('flushes a full batch at once', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number>({
      maxBatch: 3,
      maxDelayMs: 10_000,
      retryDelayMs: 10_000,
      flush: async (items) => void batches.push(items),
      onError: () => {},
    });

    batcher.add(1, 2, 3, 4);
    await batcher.drain();

    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('flushes a partial batch after the delay', async () => {
    vi.useFakeTimers();
    const batches: number[][] = [];
    const batcher = new Batcher<number>({
      maxBatch: 100,
      maxDelayMs: 200,
      retryDelayMs: 1000,
      flush: async (items) => void batches.push(items),
      onError: () => {},
    });

    batcher.add(1);
    batcher.add(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(batches).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2]]);
  });

  it('keeps the items of a failed flush and retries them', async () => {
    vi.useFakeTimers();
    const batches: number[][] = [];
    const errors: number[][] = [];
    let fail = true;
    const batcher = new Batcher<number>({
      maxBatch: 10,
      maxDelayMs: 50,
      retryDelayMs: 500,
      flush: async (items) => {
        if (fail) {
          fail = false;
          throw new Error('offline');
        }
        batches.push(items);
      },
      onError: (_error, items) => errors.push(items),
    });

    batcher.add(1, 2);
    await vi.advanceTimersByTimeAsync(50);
    expect(errors).toEqual([[1, 2]]);
    expect(batcher.pending).toBe(2);

    await vi.advanceTimersByTimeAsync(500);
    expect(batches).toEqual([[1, 2]]);
    expect(batcher.pending).toBe(0);
  });

  it('flushes nothing after close', async () => {
    vi.useFakeTimers();
    const flush = vi.fn(async () => {});
    const batcher = new Batcher<number>({ maxBatch: 10, maxDelayMs: 50, retryDelayMs: 50, flush, onError: () => {} });

    batcher.add(1);
    batcher.close();
    await vi.advanceTimersByTimeAsync(1000);

    expect(flush).not.toHaveBeenCalled();
    expect(batcher.pending).toBe(1);
  });

  it('rejects a batch size of zero', () => {
    expect(
      () => new Batcher<number>({ maxBatch: 0, maxDelayMs: 1, retryDelayMs: 1, flush: async () => {}, onError: () => {} }),
    ).toThrow(/maxBatch/);
  });
});
