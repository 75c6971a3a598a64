/**
 * Who should own each shard, given the live members: rendezvous (highest random weight) hashing,
 * with a cap on how many shards one member takes.
 *
 * Plain HRW gives each shard to the member with the highest score hash(member, shard), so a member
 * joining or leaving moves only the shards it wins or held. With 256 shards over 3 members its
 * split is binomial (about 85 ± 7.5 each), which alone misses the evenness target (max/min < 1.2).
 * So each member takes at most ceil(shards / members) shards: pairs are visited from the highest
 * score down and a shard goes to the best member that still has room. The result depends only on
 * the set of members (every node computes the same answer), stays within one shard of perfectly
 * even, and a change of membership still moves few shards besides the ones it must
 * (test/cluster/rendezvous.test.ts measures how few).
 */
import { createHash } from 'node:crypto';
import { allShards, SHARD_COUNT, type Shard } from './shards.js';

/** The HRW score of `member` for `shard`: 48 bits of SHA-256, exact as a JS number. */
export function score(member: string, shard: Shard): number {
  return createHash('sha256').update(`${member}\n${shard}`, 'utf8').digest().readUIntBE(0, 6);
}

/** Pure HRW, without the cap: the member with the highest score (ties, improbable, to the lower id). */
export function topMember(shard: Shard, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const m of members) {
    const s = score(m, shard);
    if (s > bestScore || (s === bestScore && best !== undefined && m < best)) {
      best = m;
      bestScore = s;
    }
  }
  return best;
}

/**
 * The preferred owner of every shard: `result[shard]` is a member id, or undefined when there are
 * no members. Duplicate ids count once.
 */
export function assignShards(members: readonly string[], shards: number = SHARD_COUNT): Array<string | undefined> {
  const ids = [...new Set(members)].sort();
  const owners: Array<string | undefined> = new Array<string | undefined>(shards).fill(undefined);
  if (ids.length === 0) return owners;
  const cap = Math.ceil(shards / ids.length);
  const pairs: Array<{ shard: Shard; member: string; score: number }> = [];
  for (const shard of allShards(shards)) for (const member of ids) pairs.push({ shard, member, score: score(member, shard) });
  // Highest score first; equal scores in a fixed order so every node agrees.
  pairs.sort((a, b) => b.score - a.score || a.shard - b.shard || (a.member < b.member ? -1 : 1));
  const load = new Map(ids.map((m) => [m, 0]));
  let left = shards;
  for (const p of pairs) {
    if (left === 0) break;
    if (owners[p.shard] !== undefined) continue;
    const n = load.get(p.member) ?? 0;
    if (n >= cap) continue;
    owners[p.shard] = p.member;
    load.set(p.member, n + 1);
    left--;
  }
  return owners;
}
