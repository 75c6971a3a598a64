import { describe, expect, it } from 'vitest';
import { assignShards, score, topMember } from '../../src/cluster/rendezvous.js';

const count = (owners: Array<string | undefined>, m: string) => owners.filter((o) => o === m).length;
const moved = (a: Array<string | undefined>, b: Array<string | undefined>) => a.filter((o, i) => o !== b[i]).length;

describe('assignShards (HRW with a cap per member)', () => {
  it('gives no shard an owner when there are no members', () => {
    expect(assignShards([], 4)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('gives every shard to the only member', () => {
    expect(assignShards(['n1'], 4)).toEqual(['n1', 'n1', 'n1', 'n1']);
  });

  it('depends only on the set of members, not their order or repeats', () => {
    expect(assignShards(['n3', 'n1', 'n2', 'n1'])).toEqual(assignShards(['n1', 'n2', 'n3']));
  });

  it('splits 256 shards over 3 members within one shard of even, where plain HRW would not', () => {
    const members = ['n1', 'n2', 'n3'];
    const owners = assignShards(members);
    const counts = members.map((m) => count(owners, m));
    expect(counts.reduce((a, b) => a + b)).toBe(256);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
    expect(Math.max(...counts)).toBeLessThanOrEqual(86);
    // Plain HRW for the same ids: 75 vs 97 shards, a max/min of 1.29 (why the cap exists).
    const plain = Array.from({ length: 256 }, (_, s) => topMember(s, members));
    expect(members.map((m) => count(plain, m))).toEqual([84, 75, 97]);
  });

  it('gives a shard to its highest-scoring member whenever that member has room', () => {
    const owners = assignShards(['n1', 'n2', 'n3', 'n4'], 4);
    // One shard each at most (cap 1); the globally best pair is always honoured.
    const pairs = [0, 1, 2, 3].flatMap((s) => ['n1', 'n2', 'n3', 'n4'].map((m) => ({ s, m, v: score(m, s) })));
    const best = pairs.reduce((a, b) => (b.v > a.v ? b : a));
    expect(owners[best.s]).toBe(best.m);
    expect(new Set(owners).size).toBe(4);
  });

  it.each([
    [['n1', 'n2', 'n3'], 'n2'],
    [['n1', 'n2', 'n3'], 'n3'],
    [['a', 'b', 'c', 'd', 'e'], 'b'],
    [['node-1', 'node-2', 'node-3', 'node-4'], 'node-3'],
  ])('when %j loses %s, moves its shards and at most 16 others', (members, gone) => {
    const before = assignShards(members);
    const after = assignShards(members.filter((m) => m !== gone));
    const must = count(before, gone);
    expect(count(after, gone)).toBe(0);
    expect(moved(before, after)).toBeGreaterThanOrEqual(must);
    expect(moved(before, after) - must).toBeLessThanOrEqual(16);
  });

  it.each([[['n1', 'n2', 'n3']], [['a', 'b', 'c', 'd', 'e']]])('when a member joins %j, moves its new share and at most 16 others', (members) => {
    const before = assignShards(members);
    const after = assignShards([...members, 'joiner']);
    const must = count(after, 'joiner');
    expect(must).toBeGreaterThanOrEqual(Math.floor(256 / (members.length + 1)) - 1);
    expect(moved(before, after) - must).toBeLessThanOrEqual(16);
  });
});

describe('topMember (plain HRW)', () => {
  it('picks the member with the highest score, and none from no members', () => {
    const s = 7;
    const members = ['x', 'y', 'z'];
    const expected = [...members].sort((a, b) => score(b, s) - score(a, s))[0];
    expect(topMember(s, members)).toBe(expected);
    expect(topMember(s, [])).toBeUndefined();
  });

  it('scores are 48-bit integers that depend on both member and shard', () => {
    expect(Number.isSafeInteger(score('n1', 0))).toBe(true);
    expect(score('n1', 0)).toBeLessThan(2 ** 48);
    expect(score('n1', 0)).not.toBe(score('n1', 1));
    expect(score('n1', 0)).not.toBe(score('n2', 0));
  });
});
