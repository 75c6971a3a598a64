import { describe, expect, it } from 'vitest';
import { Handles } from '../../src/health/handles.js';

describe('handles', () => {
  it('gives each held value its own handle, reuses a freed one, and grows only to the most held at once', () => {
    const h = new Handles<string>();
    const [a, b, c] = [h.add('a'), h.add('b'), h.add('c')];
    expect(new Set([a, b, c]).size).toBe(3);
    expect(h.size).toBe(3);
    h.delete(b);
    h.delete(b); // freeing twice frees once
    expect(h.size).toBe(2);
    expect(h.get(b)).toBeUndefined();
    const d = h.add('d');
    expect(d).toBe(b);
    expect([h.get(a), h.get(d), h.get(c)]).toEqual(['a', 'd', 'c']);
    expect([...h.values()]).toEqual(['a', 'd', 'c']);

    // A steady churn of 10,000 adds and deletes with at most 3 held never hands out a fourth number.
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      h.delete(a);
      seen.add(h.add(`x${i}`));
    }
    expect(seen).toEqual(new Set([a]));
    expect(h.size).toBe(3);
  });
});
