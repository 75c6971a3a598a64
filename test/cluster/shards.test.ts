import { describe, expect, it } from 'vitest';
import { hash32, SHARD_COUNT, shardOf } from '../../src/cluster/shards.js';
import { instanceKey } from '../../src/registry/model.js';

describe('shardOf', () => {
  it('is the first 32 bits of SHA-256 of the key, modulo the shard count (stable across nodes and versions)', () => {
    // SHA-256("") = e3b0c442…, SHA-256("abc") = ba7816bf… (FIPS 180-2 test vectors).
    expect(hash32('')).toBe(0xe3b0c442);
    expect(hash32('abc')).toBe(0xba7816bf);
    expect(shardOf('')).toBe(0x42);
    expect(shardOf('abc')).toBe(0xbf);
    expect(shardOf('abc', 10)).toBe(0xba7816bf % 10);
  });

  it('hashes the UTF-8 bytes, so non-ASCII keys map the same everywhere', () => {
    // SHA-256 of the UTF-8 bytes c3 a9 ("é") starts with 4a99557e (printf 'é' | sha256sum).
    expect(hash32('é')).toBe(0x4a99557e);
    expect(shardOf('é')).toBe(0x7e);
  });

  it('spreads 10,000 instance keys over 256 shards without a hot shard', () => {
    const counts = new Array<number>(SHARD_COUNT).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const key = instanceKey({ namespace: 'public', group: 'DEFAULT_GROUP', service: `svc-${i % 30}`, cluster: 'DEFAULT', ip: `10.0.${i >> 8}.${i & 255}`, port: 3306 });
      counts[shardOf(key)]!++;
    }
    // Mean 39; a uniform hash keeps every shard within roughly ±5 standard deviations (σ ≈ 6.2).
    expect(Math.min(...counts)).toBeGreaterThan(10);
    expect(Math.max(...counts)).toBeLessThan(70);
  });
});
