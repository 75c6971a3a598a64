import { expect, it } from 'vitest';
import { clusterStats, newCounters } from '../../src/cluster/cluster-stats.js';

const member = (nodeId: string, alive: boolean, admitted: boolean) => ({ nodeId, url: 'http://127.0.0.1:1', lastSeen: 0, startedAt: 0, alive, admitted });

it('counts members by state and reports the poll lag from the last successful poll', () => {
  const c = { ...newCounters(), sent: 6, failed: 2, applied: 3, repaired: 1, lastPollAt: 1000 };
  const view = { now: 5000, members: [member('n1', true, true), member('n2', true, true), member('n3', false, true), member('n9', true, false)] };
  expect(clusterStats(c, view, 85, 1750)).toEqual({
    members: { alive: 2, dead: 1, refused: 1 },
    shardsOwned: 85,
    broadcastsSent: 6,
    broadcastsFailed: 2,
    broadcastsApplied: 3,
    broadcastsRepaired: 1,
    pollLagMs: 750,
  });
});

it('has no members and no poll lag before the node joined', () => {
  expect(clusterStats(newCounters(), undefined, 0, 10)).toMatchObject({ members: { alive: 0, dead: 0, refused: 0 }, shardsOwned: 0, pollLagMs: undefined });
});
