/**
 * The beat module in cluster mode, driven by a literal clock (no timers, no processes): only the
 * instances this node is responsible for are judged, a takeover gives a full delete timeout, beats
 * for other nodes' instances are remembered, and a peer's hold holds deletions here too.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import pino from 'pino';
import { createBeatModule, type BeatModule } from '../../src/beat/beat-module.js';
import { parseConfig } from '../../src/config/load.js';
import { initialState } from '../../src/health/state-machine.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import { createRegistry, type Registry, type RegistryEvent } from '../../src/registry/registry.js';

const T0 = 1_700_000_000_000;
const inst = (port: number): Instance => ({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc', cluster: 'DEFAULT', ip: '127.0.0.1', port, weight: 1, enabled: true, ephemeral: true, metadata: {}, registeredAt: T0 });
const key = (port: number) => instanceKey(inst(port));

// Ephemeral instances never reach the store: an empty one is enough.
const noStore = { putInstance() {}, deleteInstance() {}, putCheckerConfig() {}, deleteCheckerConfig() {}, putWhitelist() {}, deleteWhitelist() {}, putSwitch() {} };
let registry: Registry;
let beats: BeatModule;
let clock: number;
let events: RegistryEvent[];
let mine: Set<string>;
let peerHolds: boolean;

beforeEach(() => {
  clock = T0;
  registry = createRegistry({ store: noStore, snapshot: { instances: [], checkerConfigs: [], whitelist: [], switches: {} }, healthWriter: { put() {}, forget() {} }, now: () => clock });
  events = [];
  registry.subscribe((e) => events.push(e));
  mine = new Set();
  peerHolds = false;
  const config = parseConfig({ beat: { heartbeatTimeoutMs: 15000, deleteTimeoutMs: 30000 } }).beat;
  beats = createBeatModule({ registry, config, logger: pino({ level: 'silent' }), now: () => clock, sweepTimer: false, owns: (k) => mine.has(k), peerHolds: () => peerHolds });
  beats.start();
});

afterEach(() => beats.stop());

function advance(ms: number): void {
  for (let t = 0; t < ms; t += 1000) {
    clock += Math.min(1000, ms - t);
    beats.sweep();
  }
}

/** A replica: registered by its responsible node elsewhere and applied here. */
const replicate = (port: number) => registry.applyEphemeral(key(port), { instance: inst(port), health: initialState(clock, true) });
const unhealthyMarks = () => events.filter((e) => e.type === 'health-changed' && !e.change.to && e.origin !== 'peer').length;
const deletions = () => events.filter((e) => e.type === 'instance-deregistered' && e.origin !== 'peer').length;

it('never marks or deletes an instance another node is responsible for, however long it is silent', () => {
  replicate(1);
  advance(120_000);
  expect(registry.find(inst(1))?.health.healthy).toBe(true);
  expect(unhealthyMarks()).toBe(0);
  expect(deletions()).toBe(0);
  expect(beats.status().cluster).toMatchObject({ responsibleFor: 0, replicas: 1 });
});

it('gives an instance it takes over one full delete timeout from the takeover, then expires it once', () => {
  replicate(1);
  advance(60_000); // silent for a minute while another node was responsible
  mine.add(key(1));
  advance(1000);
  expect(beats.status().cluster).toMatchObject({ responsibleFor: 1, takenOver: 1 });
  advance(13_000);
  expect(registry.find(inst(1))?.health.healthy).toBe(true);
  advance(2000); // 15 s after the takeover: unhealthy, not yet deleted
  expect(registry.find(inst(1))?.health.healthy).toBe(false);
  advance(13_000);
  expect(registry.find(inst(1))).toBeDefined();
  advance(3000); // 30 s after the takeover
  expect(registry.find(inst(1))).toBeUndefined();
  expect(unhealthyMarks()).toBe(1);
  expect(deletions()).toBe(1);
});

it('remembers a beat for an instance it is not responsible for, so it counts at a takeover, without deciding anything', () => {
  replicate(1);
  advance(10_000);
  expect(beats.beat(key(1))).toBe(true);
  expect(beats.status().counters.beats).toBe(0);
  expect(beats.status().cluster).toMatchObject({ replicaBeats: 1 });
  advance(5000);
  expect(registry.find(inst(1))?.health.healthy).toBe(true);
});

it('holds deletions while a peer holds them, and deletes once the peer lets go', () => {
  for (let p = 1; p <= 3; p++) {
    registry.register(inst(p));
    mine.add(key(p));
  }
  peerHolds = true;
  advance(40_000);
  expect(registry.list()).toHaveLength(3);
  expect(registry.list().every((r) => !r.health.healthy)).toBe(true);
  expect(beats.status().selfPreservation.held).toBe(3);
  peerHolds = false;
  advance(1000);
  expect(registry.list()).toHaveLength(0);
});
