import { describe, expect, it } from 'vitest';

import { AsyncQueue, TypedEmitter } from '../../src/chat/events.ts';

describe('TypedEmitter', () => {
  it('calls listeners in order and removes them', () => {
    const emitter = new TypedEmitter<{ tick: number }>(() => {});
    const seen: string[] = [];
    const off = emitter.on('tick', (value) => seen.push(`a${value}`));
    emitter.on('tick', (value) => seen.push(`b${value}`));

    emitter.emit('tick', 1);
    off();
    emitter.emit('tick', 2);

    expect(seen).toEqual(['a1', 'b1', 'b2']);
  });

  it('keeps calling listeners after one throws', () => {
    const failures: unknown[] = [];
    const emitter = new TypedEmitter<{ tick: number }>((error) => failures.push(error));
    const seen: number[] = [];
    emitter.on('tick', () => {
      throw new Error('listener failed');
    });
    emitter.on('tick', (value) => seen.push(value));

    emitter.emit('tick', 7);

    expect(seen).toEqual([7]);
    expect(failures).toHaveLength(1);
  });
});

describe('AsyncQueue', () => {
  it('hands items to a waiting reader', async () => {
    const queue = new AsyncQueue<number>();
    const next = queue.next();
    queue.push(1);
    expect(await next).toEqual({ value: 1, done: false });
  });

  it('yields queued items before ending', async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.push(2);
    queue.close();

    const items: number[] = [];
    for await (const item of queue) {
      items.push(item);
    }
    expect(items).toEqual([1, 2]);
  });

  it('ends pending reads on close', async () => {
    const queue = new AsyncQueue<number>();
    const next = queue.next();
    queue.close();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('ignores pushes after close', async () => {
    const queue = new AsyncQueue<number>();
    queue.close();
    queue.push(1);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });
});
