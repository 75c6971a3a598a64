import { expect, it } from 'vitest';
import { memberChanges } from '../../src/cluster/member-changes.js';
import type { Member, MemberView } from '../../src/cluster/membership.js';

const m = (nodeId: string, alive = true, admitted = true, lastSeen = 1000): Member => ({ nodeId, url: `http://127.0.0.1:1/${nodeId}`, lastSeen, startedAt: 0, alive, admitted });
const view = (now: number, ...members: Member[]): MemberView => ({ now, members });

it('reports nothing for the first view: there is nothing to compare it with', () => {
  expect(memberChanges(undefined, view(1000, m('n1'), m('n2')))).toEqual([]);
});

it('reports nothing when the counted members are the same', () => {
  expect(memberChanges(view(1000, m('n1'), m('n2', false)), view(2000, m('n1', true, true, 1900), m('n2', false)))).toEqual([]);
});

it('reports a new member as joined and a member seen again as heartbeat-resumed', () => {
  const changes = memberChanges(view(1000, m('n1'), m('n2', false)), view(2000, m('n1'), m('n2', true, true, 1990), m('n3', true, true, 1995)));
  expect(changes).toEqual([
    { what: 'up', nodeId: 'n2', url: 'http://127.0.0.1:1/n2', reason: 'heartbeat-resumed', lastSeen: 1990, at: 2000 },
    { what: 'up', nodeId: 'n3', url: 'http://127.0.0.1:1/n3', reason: 'joined', lastSeen: 1995, at: 2000 },
  ]);
});

it('reports a member down by heartbeat timeout, by leaving (row gone) and by a secret that no longer verifies', () => {
  const changes = memberChanges(view(1000, m('n1'), m('n2'), m('n3'), m('n4')), view(9000, m('n1'), m('n2', false, true, 1000), m('n4', true, false, 8990)));
  expect(changes.map((c) => [c.what, c.nodeId, c.reason, c.at])).toEqual([
    ['down', 'n2', 'heartbeat-timeout', 9000],
    ['down', 'n4', 'refused', 9000],
    ['down', 'n3', 'left', 9000],
  ]);
});

it('never reports a member that was not counted before and is not now', () => {
  expect(memberChanges(view(1000, m('n9', true, false)), view(2000, m('n9', false, false)))).toEqual([]);
  expect(memberChanges(view(1000, m('n9', false)), view(2000))).toEqual([]);
});
