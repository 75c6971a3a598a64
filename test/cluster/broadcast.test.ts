/**
 * Broadcasts over real HTTP on loopback: a broadcaster (n1) and two receiving nodes (n2, n3), each a
 * real server built like the daemon's (createServer) with the peer route registered.
 */
import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiServer } from '../helpers/api-server.js';
import { createBroadcaster, REQUESTS_IN_FLIGHT, type Broadcaster } from '../../src/cluster/broadcaster.js';
import { signPeerRequest } from '../../src/cluster/peer-auth.js';
import type { PeerChange } from '../../src/cluster/peer-changes.js';
import { PEER_CHANGES_PATH, registerPeerRoutes, type PeerRefusal } from '../../src/cluster/peer-route.js';
import type { Stamp } from '../../src/cluster/stamp.js';
import { waitFor } from '../helpers/daemon.js';
import { closedPort, listen } from '../helpers/servers.js';
import { health } from '../helpers/store-fixtures.js';

const SECRET = 'cluster-secret';
const MEMBERS = new Set(['n1', 'n2', 'n3']);
/** The latest lease epoch each receiver has seen for a key's shard (the 'stale' key's shard moved on to 5). */
const KNOWN_EPOCHS = new Map([['stale', 5]]);

interface Receiver {
  id: string;
  url: string;
  app: FastifyInstance;
  held: Map<string, { stamp: Stamp; node: string | null }>;
  refusals: PeerRefusal[];
}

async function receiver(id: string): Promise<Receiver> {
  // Auth on, reads closed: peers carry no API credential, so the peer route must be public.
  const app = await apiServer({ token: 'api-token', anonymousReads: false });
  const held = new Map<string, { stamp: Stamp; node: string | null }>();
  const refusals: PeerRefusal[] = [];
  registerPeerRoutes(app, {
    secret: SECRET,
    isMember: (n) => MEMBERS.has(n),
    sink: {
      stampOf: (k) => held.get(k)?.stamp,
      applyHealth: (r) => held.set(r.key, { stamp: { epoch: r.epoch, version: r.health.health.version }, node: r.decidedByNode }),
    },
    onRefused: (r) => refusals.push(r),
    knownEpoch: (k) => KNOWN_EPOCHS.get(k),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { id, url, app, held, refusals };
}

const change = (key: string, epoch: number, version: number): PeerChange => ({ key, epoch, decidedByNode: 'n1', health: health({ version }) });

describe('peer broadcasts over HTTP', () => {
  let n2: Receiver;
  let n3: Receiver;
  const open: Broadcaster[] = [];
  const broadcaster = (nodeId: string, secret = SECRET, extra: Array<{ nodeId: string; url: string }> = [], batchMs = 20) => {
    const b = createBroadcaster({ nodeId, secret, peers: () => [{ nodeId, url: 'http://127.0.0.1:1' }, ...[n2, n3].map((r) => ({ nodeId: r.id, url: r.url })), ...extra], batchMs, timeoutMs: 60_000 });
    open.push(b);
    return b;
  };
  const post = async (body: string, headers: Record<string, string>) => {
    const res = await request(new URL(PEER_CHANGES_PATH, n2.url), { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    n2 = await receiver('n2');
    n3 = await receiver('n3');
  });
  afterAll(async () => {
    await Promise.all(open.map((b) => b.close()));
    await n2?.app.close();
    await n3?.app.close();
  });

  it('delivers a batch to every peer but itself, the newest copy per key only', async () => {
    const b = broadcaster('n1');
    b.publish(change('a', 1, 2));
    b.publish(change('a', 1, 3));
    b.publish(change('a', 1, 1)); // older: dropped from the batch
    b.publish(change('b', 1, 2));
    expect(await b.flush()).toEqual({ changes: 2, failed: [] });
    for (const r of [n2, n3]) {
      expect(r.held.get('a')).toEqual({ stamp: { epoch: 1, version: 3 }, node: 'n1' });
      expect(r.held.get('b')?.stamp).toEqual({ epoch: 1, version: 2 });
    }
  });

  it('sends by itself within the batch window', async () => {
    const b = broadcaster('n1');
    b.publish(change('timer', 1, 2));
    await waitFor(() => n2.held.has('timer') && n3.held.has('timer'));
  });

  it('with no window, sends at once; a peer that does not answer holds back only its own lane (a few requests), which then sends the newest copies in one request', async () => {
    // n4 takes requests and answers none until the test releases them.
    const bodies: Array<{ changes: PeerChange[] }> = [];
    const held: http.ServerResponse[] = [];
    const slow = http.createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8').on('data', (d: string) => (raw += d)).on('end', () => {
        bodies.push(JSON.parse(raw) as { changes: PeerChange[] });
        held.push(res);
      });
    });
    const port = await listen(slow);
    try {
      const b = broadcaster('n1', SECRET, [{ nodeId: 'n4', url: `http://127.0.0.1:${port}` }], 0);
      // Each change goes out at once, also to n4, until n4's lane is full.
      for (let i = 0; i < REQUESTS_IN_FLIGHT; i++) {
        b.publish(change(`lane-${i}`, 1, 2));
        await waitFor(() => n2.held.has(`lane-${i}`) && n3.held.has(`lane-${i}`) && bodies.length === i + 1);
      }
      // While n4's requests are open, the others keep receiving; n4's lane merges what waits for it.
      b.publish(change('lane-x', 1, 2));
      b.publish(change('lane-x', 1, 3));
      b.publish(change('lane-y', 1, 2));
      await waitFor(() => n2.held.get('lane-x')?.stamp.version === 3 && n3.held.has('lane-y'));
      expect(bodies).toHaveLength(REQUESTS_IN_FLIGHT);
      held.shift()!.end('{}');
      await waitFor(() => bodies.length === REQUESTS_IN_FLIGHT + 1);
      expect(bodies.at(-1)!.changes.map((c) => [c.key, c.health.health.version])).toEqual([['lane-x', 3], ['lane-y', 2]]);
      for (const res of held.splice(0)) res.end('{}');
      expect(await b.flush()).toEqual({ changes: 0, failed: [] });
    } finally {
      for (const res of held) res.end('{}');
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });

  it('applies only copies newer than what the peer holds', async () => {
    n2.held.set('c', { stamp: { epoch: 5, version: 1 }, node: 'n3' });
    const headers = signPeerRequest(SECRET, 'n1', { method: 'POST', path: PEER_CHANGES_PATH, body: JSON.stringify({ changes: [change('c', 4, 99)] }) });
    const res = await post(JSON.stringify({ changes: [change('c', 4, 99)] }), headers);
    expect(res).toEqual({ status: 200, body: { applied: 0, ignored: 1 } });
    expect(n2.held.get('c')).toEqual({ stamp: { epoch: 5, version: 1 }, node: 'n3' });
  });

  it('refuses a node with another secret at every peer, applies nothing, and reports it once', async () => {
    const b = broadcaster('n1', 'wrong');
    b.publish(change('w', 1, 2));
    expect((await b.flush()).failed).toEqual([{ nodeId: 'n2', reason: 'status 401' }, { nodeId: 'n3', reason: 'status 401' }]);
    b.publish(change('w', 1, 3));
    await b.flush();
    expect(n2.held.has('w')).toBe(false);
    expect(n2.refusals.filter((r) => r.code === 'VIGIL_ERR_CLUSTER_UNAUTHORIZED')).toHaveLength(1);
  });

  it('refuses a request without the secret, naming the header, and changes nothing', async () => {
    const res = await post(JSON.stringify({ changes: [change('u', 1, 2)] }), {});
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: 'VIGIL_ERR_CLUSTER_UNAUTHORIZED', field: 'x-vigil-node' });
    expect(n2.held.has('u')).toBe(false);
  });

  it('refuses a signed request carrying a copy under an epoch older than the shard\'s latest (409, the field named), applies none of it, and reports it once', async () => {
    const body = JSON.stringify({ changes: [change('fine', 1, 2), change('stale', 4, 9)] });
    const signed = signPeerRequest(SECRET, 'n1', { method: 'POST', path: PEER_CHANGES_PATH, body });
    for (let i = 0; i < 2; i++) {
      const res = await post(body, signed);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'VIGIL_ERR_CLUSTER_STALE_EPOCH', field: 'changes.1.epoch' });
    }
    expect(n2.held.has('fine') || n2.held.has('stale')).toBe(false);
    expect(n2.refusals.filter((r) => r.code === 'VIGIL_ERR_CLUSTER_STALE_EPOCH')).toHaveLength(1);
  });

  it('refuses a correctly signed request from a node that is not a member', async () => {
    const b = broadcaster('n9');
    b.publish(change('x', 1, 2));
    expect((await b.flush()).failed.map((f) => f.reason)).toEqual(['status 403', 'status 403']);
    expect(n2.held.has('x')).toBe(false);
    expect(n2.refusals.find((r) => r.code === 'VIGIL_ERR_CLUSTER_UNKNOWN_NODE')).toMatchObject({ nodeId: 'n9', field: 'x-vigil-node' });
  });

  it.each([
    ['not JSON', '{"changes": [', 'VIGIL_ERR_REQUEST_BODY', 'body'],
    ['a negative epoch', JSON.stringify({ changes: [{ ...change('m', 1, 2), epoch: -1 }] }), 'VIGIL_ERR_REQUEST_INVALID', 'changes.0.epoch'],
    ['an unknown field', JSON.stringify({ changes: [{ ...change('m', 1, 2), extra: 1 }] }), 'VIGIL_ERR_REQUEST_INVALID', 'changes.0.extra'],
    ['a health without version', JSON.stringify({ changes: [{ ...change('m', 1, 2), health: { health: { healthy: true } } }] }), 'VIGIL_ERR_REQUEST_INVALID', 'changes.0.health.health.since'],
  ])('refuses a signed body with %s (400, the field named) and applies nothing', async (_what, body, code, field) => {
    const res = await post(body, signPeerRequest(SECRET, 'n1', { method: 'POST', path: PEER_CHANGES_PATH, body }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code, field });
    expect(n2.held.has('m')).toBe(false);
  });

  it('reaches the live peers when one is down, and reports the one that failed', async () => {
    const down = { nodeId: 'n4', url: `http://127.0.0.1:${await closedPort()}` };
    const b = broadcaster('n1', SECRET, [down]);
    b.publish(change('d', 1, 2));
    const res = await b.flush();
    expect(res.failed).toEqual([{ nodeId: 'n4', reason: 'ECONNREFUSED' }]);
    expect(n2.held.has('d') && n3.held.has('d')).toBe(true);
  });
});
