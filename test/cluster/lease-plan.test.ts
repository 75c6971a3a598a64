import { describe, expect, it } from 'vitest';
import { planLeases, type LeaseRow } from '../../src/cluster/lease-plan.js';
import { assignShards } from '../../src/cluster/rendezvous.js';

// Four shards over n1 and n2: with these ids the preferred owners are fixed by the hash.
const SHARDS = 4;
const members = ['n1', 'n2'];
const preferred = assignShards(members, SHARDS);
const mineOf = (m: string) => preferred.flatMap((o, s) => (o === m ? [s] : []));
const NOW = 1_000_000;

const row = (shard: number, owner: string | null, epoch: number, expiresAt: number): LeaseRow => ({ shard, owner, epoch, expiresAt });
const free = (): LeaseRow[] => Array.from({ length: SHARDS }, (_, s) => row(s, null, 0, 0));

describe('planLeases', () => {
  it('splits the shards two and two between n1 and n2 (the fixture the other cases rely on)', () => {
    expect(mineOf('n1')).toHaveLength(2);
    expect(mineOf('n2')).toHaveLength(2);
  });

  it('acquires the free shards it is preferred for, and nothing else', () => {
    const plan = planLeases({ self: 'n1', liveMembers: members, leases: free(), now: NOW, shards: SHARDS });
    expect(plan).toEqual({ acquire: mineOf('n1'), renew: [], release: [] });
  });

  it('renews the shards it holds and should hold, with their epochs', () => {
    const leases = free().map((l) => (preferred[l.shard] === 'n1' ? row(l.shard, 'n1', 7, NOW + 500) : l));
    const plan = planLeases({ self: 'n1', liveMembers: members, leases, now: NOW, shards: SHARDS });
    expect(plan).toEqual({ acquire: [], renew: mineOf('n1').map((shard) => ({ shard, epoch: 7 })), release: [] });
  });

  it('releases what it holds but a live member should hold (hand-over on join)', () => {
    // n1 was alone and held everything; n2 joined.
    const leases = free().map((l) => row(l.shard, 'n1', 3, NOW + 500));
    const plan = planLeases({ self: 'n1', liveMembers: members, leases, now: NOW, shards: SHARDS });
    expect(plan.release).toEqual(mineOf('n2').map((shard) => ({ shard, epoch: 3 })));
    expect(plan.renew).toEqual(mineOf('n1').map((shard) => ({ shard, epoch: 3 })));
    expect(plan.acquire).toEqual([]);
  });

  it('waits for a shard it should own while another node holds it unexpired', () => {
    const leases = free().map((l) => row(l.shard, 'n1', 3, NOW + 1));
    const plan = planLeases({ self: 'n2', liveMembers: members, leases, now: NOW, shards: SHARDS });
    expect(plan).toEqual({ acquire: [], renew: [], release: [] });
  });

  it('takes a shard whose lease has expired by database time (expiresAt <= now), even from a member', () => {
    const leases = free().map((l) => row(l.shard, 'gone', 3, NOW));
    const plan = planLeases({ self: 'n2', liveMembers: members, leases, now: NOW, shards: SHARDS });
    expect(plan.acquire).toEqual(mineOf('n2'));
  });

  it('re-acquires (new epoch) rather than renews its own lease that has already expired', () => {
    const leases = free().map((l) => row(l.shard, 'n1', 3, NOW - 10));
    const plan = planLeases({ self: 'n1', liveMembers: members, leases, now: NOW, shards: SHARDS });
    expect(plan).toEqual({ acquire: mineOf('n1'), renew: [], release: [] });
  });

  it('plans nothing when the node is not a live member itself (its heartbeat is late)', () => {
    const leases = free().map((l) => row(l.shard, 'n1', 3, NOW + 500));
    const plan = planLeases({ self: 'n1', liveMembers: ['n2'], leases, now: NOW, shards: SHARDS });
    expect(plan).toEqual({ acquire: [], renew: [], release: [] });
  });

  it('takes everything from dead members once their leases lapse, when it is alone', () => {
    const leases = free().map((l) => row(l.shard, l.shard % 2 ? 'n2' : 'n3', 9, NOW - 1));
    const plan = planLeases({ self: 'n1', liveMembers: ['n1'], leases, now: NOW, shards: SHARDS });
    expect(plan.acquire).toEqual([0, 1, 2, 3]);
  });

  it('treats a missing lease row like a free one', () => {
    const plan = planLeases({ self: 'n1', liveMembers: ['n1'], leases: [], now: NOW, shards: SHARDS });
    expect(plan.acquire).toEqual([0, 1, 2, 3]);
  });
});
