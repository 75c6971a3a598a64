import { describe, expect, it } from 'vitest';
import { CHUNK, createListingGate } from '../../src/api/listing-gate.js';

describe('listing gate', () => {
  it('builds the same JSON as one stringify of the whole page', async () => {
    const items = Array.from({ length: CHUNK * 3 + 7 }, (_, i) => ({ n: i, s: `x${i}` }));
    const body = await createListingGate(2).json('instances', items, (i) => ({ ...i, double: i.n * 2 }), { nextCursor: null });
    expect(JSON.parse(body)).toEqual({ instances: items.map((i) => ({ ...i, double: i.n * 2 })), nextCursor: null });
    expect(JSON.parse(await createListingGate(1).json('instances', [], (i) => i, {}))).toEqual({ instances: [] });
  });

  it('lets other callbacks of the event loop run between chunks of a large page', async () => {
    const items = Array.from({ length: CHUNK * 10 }, (_, i) => i);
    const order: string[] = [];
    let chunksBuilt = 0;
    const listing = createListingGate(1).json('x', items, (i) => {
      if (i % CHUNK === 0) order.push(`chunk ${chunksBuilt++}`);
      return i;
    }, {});
    // Queued once the listing has started: a callback of the loop's next turn, like a beat's I/O.
    setImmediate(() => order.push('timer'));
    await listing;
    // It ran before the listing finished, not after all ten chunks.
    expect(order.indexOf('timer')).toBeGreaterThan(0);
    expect(order.indexOf('timer')).toBeLessThan(order.length - 1);
  });

  it('builds at most `concurrency` listings at once; the others wait their turn', async () => {
    const gate = createListingGate(1);
    const items = Array.from({ length: CHUNK * 3 }, (_, i) => i);
    const log: string[] = [];
    const view = (name: string) => (i: number) => {
      if (i % CHUNK === 0) log.push(name);
      return i;
    };
    await Promise.all([gate.json('a', items, view('a'), {}), gate.json('b', items, view('b'), {})]);
    expect(log).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
  });
});
