/**
 * The replicated ephemeral set over real HTTP on loopback: two nodes, each a real server built like
 * the daemon's with the replication routes, and a real registry. The cluster node's lease questions
 * are answered by a plain object (which shards each node holds, and under which epoch).
 */
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEphemeralReplication, type EphemeralReplication } from '../../src/cluster/ephemeral-replication.js';
import { EPHEMERAL_PATH } from '../../src/cluster/ephemeral-messages.js';
import { signPeerRequest } from '../../src/cluster/peer-auth.js';
import { shardOf } from '../../src/cluster/shards.js';
import { initialState } from '../../src/health/state-machine.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import { createRegistry, type Registry, type RegistryEvent } from '../../src/registry/registry.js';
import { api, waitFor } from '../helpers/daemon.js';
import { apiServer } from '../helpers/api-server.js';

const SECRET = 'ephemeral-replication-secret';
const inst = (port: number): Instance => ({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc', cluster: 'DEFAULT', ip: '127.0.0.1', port, weight: 1, enabled: true, ephemeral: true, metadata: {}, registeredAt: 1 });
const key = (port: number) => instanceKey(inst(port));

interface Node {
  id: string;
  url: string;
  app: FastifyInstance;
  registry: Registry;
  replication: EphemeralReplication;
  events: RegistryEvent[];
  /** Keys this node is responsible for, with the epoch. */
  owned: Map<string, number>;
  /** Cut off: it sends to no peer (what it sends is lost). */
  isolated: boolean;
}

const nodes: Node[] = [];
const noStore = { putInstance() {}, deleteInstance() {}, putCheckerConfig() {}, deleteCheckerConfig() {}, putWhitelist() {}, deleteWhitelist() {}, putSwitch() {} };
const emptySnapshot = { instances: [], checkerConfigs: [], whitelist: [], switches: {} };

async function node(id: string): Promise<Node> {
  const app = await apiServer();
  const registry = createRegistry({ store: noStore, snapshot: emptySnapshot, healthWriter: { put() {}, forget() {} } });
  const owned = new Map<string, number>();
  const n = { id, app, registry, owned, isolated: false, events: [] as RegistryEvent[] } as unknown as Node;
  n.replication = createEphemeralReplication({
    nodeId: id,
    secret: SECRET,
    registry,
    node: {
      ownsKey: (k) => owned.has(k),
      epochForKey: (k) => owned.get(k),
      ownerOf: () => undefined,
      peers: () => (n.isolated ? [] : nodes.filter((o) => o.id !== id).map((o) => ({ nodeId: o.id, url: o.url }))),
      heldShards: () => [...owned.keys()].map((k) => shardOf(k)),
    },
    beats: { holding: () => false, peerExpired: () => {} },
    batchMs: 10,
    timeoutMs: 2000,
    syncMs: 60_000,
    reconcileMs: 600_000,
    tombstoneMs: 600_000,
    now: Date.now,
    logger: pino({ level: 'silent' }),
  });
  n.replication.registerRoutes(app);
  n.url = await app.listen({ host: '127.0.0.1', port: 0 });
  registry.subscribe((e) => n.events.push(e));
  return n;
}

let a: Node;
let b: Node;

beforeAll(async () => {
  a = await node('a');
  b = await node('b');
  nodes.push(a, b);
  await a.replication.start();
  await b.replication.start();
});

afterAll(async () => {
  for (const n of nodes) {
    await n.replication.stop();
    await n.app.close();
  }
});

it('replicates a registration, a health change and an expiry made by the responsible node, in that order', async () => {
  a.owned.set(key(1), 5);
  a.registry.register(inst(1));
  await waitFor(() => b.registry.find(inst(1)) !== undefined, 10_000, 20);
  const rec = a.registry.get(key(1))!;
  a.registry.setHealth(key(1), { ...rec.health, healthy: false, version: rec.health.version + 1, reason: 'beat-timeout', decidedBy: 'beat' }, { from: true, to: false, reason: 'beat-timeout', decidedBy: 'beat', version: rec.health.version + 1, at: 1 });
  await waitFor(() => b.registry.find(inst(1))?.health.healthy === false, 10_000, 20);
  a.registry.deregister(inst(1), 'expired');
  await waitFor(() => b.registry.find(inst(1)) === undefined, 10_000, 20);
  const onB = b.events.filter((e) => 'key' in e && e.key === key(1)).map((e) => e.type + ('cause' in e && e.cause ? `:${e.cause}` : ''));
  expect(onB).toEqual(['instance-registered', 'health-changed', 'instance-deregistered:expired']);
});

it('does not resurrect a deleted instance from a late copy of an older stamp, and takes a newer registration', async () => {
  const stale = JSON.stringify({ holding: false, ops: [{ key: key(1), epoch: 5, seq: 1, entry: { instance: inst(1), health: initialState(1, true) } }] });
  const res = await api(b.url, 'POST', EPHEMERAL_PATH, stale, { 'content-type': 'application/json', ...signPeerRequest(SECRET, 'a', { method: 'POST', path: EPHEMERAL_PATH, body: stale }) });
  expect(res.status).toBe(200);
  expect(b.registry.find(inst(1))).toBeUndefined();
  // A copy from a later epoch (a new owner) is newer than the tombstone.
  const fresh = JSON.stringify({ holding: false, ops: [{ key: key(1), epoch: 6, seq: 1, entry: { instance: inst(1), health: initialState(1, true) } }] });
  await api(b.url, 'POST', EPHEMERAL_PATH, fresh, { 'content-type': 'application/json', ...signPeerRequest(SECRET, 'a', { method: 'POST', path: EPHEMERAL_PATH, body: fresh }) });
  expect(b.registry.find(inst(1))).toBeDefined();
});

it('refuses an unsigned batch, one from an unknown node, and a malformed one, changing nothing', async () => {
  const body = JSON.stringify({ holding: true, ops: [{ key: key(2), epoch: 9, seq: 9, entry: { instance: inst(2), health: initialState(1, true) } }] });
  const unsigned = await api(b.url, 'POST', EPHEMERAL_PATH, body, { 'content-type': 'application/json', 'x-vigil-node': 'a' });
  expect(unsigned.status).toBe(401);
  expect(unsigned.body.code).toBe('VIGIL_ERR_CLUSTER_UNAUTHORIZED');
  const stranger = await api(b.url, 'POST', EPHEMERAL_PATH, body, { 'content-type': 'application/json', ...signPeerRequest(SECRET, 'zz', { method: 'POST', path: EPHEMERAL_PATH, body }) });
  expect(stranger.status).toBe(403);
  const bad = JSON.stringify({ holding: false, ops: [{ key: key(2), epoch: 9, seq: 9, entry: { instance: { ...inst(2), port: 0 }, health: initialState(1, true) } }] });
  const malformed = await api(b.url, 'POST', EPHEMERAL_PATH, bad, { 'content-type': 'application/json', ...signPeerRequest(SECRET, 'a', { method: 'POST', path: EPHEMERAL_PATH, body: bad }) });
  expect(malformed.status).toBe(400);
  expect(malformed.body.field).toBe('ops.0.entry.instance.port');
  expect(b.registry.find(inst(2))).toBeUndefined();
  expect(b.replication.peerHolds()).toBe(false);
});

it('reconcile repairs a deletion a replica missed, and sends again a registration the responsible node missed', async () => {
  a.owned.set(key(3), 7);
  a.owned.set(key(4), 7);
  a.registry.register(inst(3));
  await waitFor(() => b.registry.find(inst(3)) !== undefined, 10_000, 20);
  a.isolated = true;
  a.registry.deregister(inst(3), 'expired');
  await a.replication.flush();
  a.isolated = false;
  // Registered at b while a (responsible) was unreachable: kept at b under epoch 0.
  b.isolated = true;
  b.registry.register(inst(4));
  await b.replication.flush();
  b.isolated = false;
  expect(b.registry.find(inst(3))).toBeDefined();
  expect(a.registry.find(inst(4))).toBeUndefined();
  await b.replication.reconcile();
  expect(b.registry.find(inst(3))).toBeUndefined();
  await waitFor(() => a.registry.find(inst(4)) !== undefined, 10_000, 20);
  expect(b.registry.find(inst(4))).toBeDefined();
});
