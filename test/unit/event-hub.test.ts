import { afterEach, describe, expect, it } from 'vitest';
import { createEventHub, type VigilEvent } from '../../src/observe/event-hub.js';
import { EVENT_TYPES, mapEvent } from '../../src/observe/event-table.js';
import { initialState } from '../../src/health/state-machine.js';
import type { RegistryEvent } from '../../src/registry/registry.js';
import { backoffDelay } from '../../src/observe/webhooks.js';
import { sign, verify } from '../../src/observe/webhook-signature.js';
import { createRegistry } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import { createHealthWriter } from '../../src/registry/health-writer.js';
import pino from 'pino';
import { removeDir, tempDir } from '../helpers/daemon.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(removeDir));

function hubWith(historySize: number) {
  const dir = tempDir();
  dirs.push(dir);
  const store = openSqliteStore({ dataDir: dir, synchronous: 'normal' });
  const registry = createRegistry({ store, healthWriter: createHealthWriter({ store, logger: pino({ level: 'silent' }), batchMs: 10, maxBatch: 100 }) });
  const hub = createEventHub({ registry, now: () => 1000, historySize, boot: 'b' });
  hub.start();
  const fire = (n: number) => {
    for (let i = 0; i < n; i++) registry.announce({ type: 'beat-protection', what: 'engaged', reason: `r${i}`, at: i, detail: {} });
  };
  return { hub, fire };
}

describe('event hub', () => {
  it('numbers events and replays those after an id while the ring holds them', () => {
    const { hub, fire } = hubWith(4);
    const seen: VigilEvent[] = [];
    hub.subscribe((e) => seen.push(e));
    fire(6);
    expect(seen.map((e) => e.id)).toEqual(['b-1', 'b-2', 'b-3', 'b-4', 'b-5', 'b-6']);
    expect(seen[0]).toMatchObject({ type: 'self-preservation-on', data: { reason: 'r0' } });
    expect(hub.replay({ boot: 'b', seq: 2 })).toEqual({ events: seen.slice(2) });
    expect(hub.replay({ boot: 'b', seq: 6 })).toEqual({ events: [] });
    // Event 2 is gone from a ring of 4: resuming after 1 would skip it.
    expect(hub.replay({ boot: 'b', seq: 1 })).toEqual({ resync: true });
    expect(hub.replay({ boot: 'other', seq: 5 })).toEqual({ resync: true });
    expect(hub.replay({ boot: 'b', seq: 7 })).toEqual({ resync: true });
  });

  it('keeps delivering to the other sinks when one throws', () => {
    const { hub, fire } = hubWith(4);
    const seen: string[] = [];
    hub.subscribe(() => {
      throw new Error('broken sink');
    });
    hub.subscribe((e) => seen.push(e.id));
    fire(2);
    expect(seen).toEqual(['b-1', 'b-2']);
  });

  it('lists exactly the event names the table produces', () => {
    const instance = { namespace: 'public', group: 'G', service: 's', cluster: 'DEFAULT', ip: '127.0.0.1', port: 1, weight: 1, enabled: true, ephemeral: false, metadata: {}, registeredAt: 0 };
    const health = initialState(0);
    const record = { instance, health };
    const change = { from: true, to: false, reason: 'refused', decidedBy: 'checker' as const, version: 2, at: 0 };
    const entry = { id: 'w', service: 's', reason: 'r', createdAt: 0 };
    const samples: RegistryEvent[] = [
      { type: 'instance-registered', key: 'k', record },
      { type: 'instance-updated', key: 'k', record, previous: instance },
      { type: 'instance-deregistered', key: 'k', instance },
      { type: 'instance-deregistered', key: 'k', instance, cause: 'expired' },
      { type: 'health-changed', key: 'k', record, change },
      { type: 'override-changed', key: 'k', record: { instance, health: { ...health, override: { healthy: true, reason: 'r' } } } },
      { type: 'override-changed', key: 'k', record },
      { type: 'checker-config-changed', key: 'k', scope: { namespace: 'public', group: 'G', service: 's' }, config: null },
      { type: 'whitelist-changed', entry, removed: false },
      { type: 'whitelist-changed', entry, removed: true },
      { type: 'switch-changed', name: 'activeChecks', value: false },
      ...(['engaged', 'released', 'exhausted', 'stall-compensated'] as const).map((what) => ({ type: 'beat-protection' as const, what, reason: 'r', at: 0, detail: {} })),
      { type: 'primary-changed', service: { namespace: 'public', group: 'G', service: 's' }, from: null, to: { key: 'k', cluster: 'DEFAULT', ip: '127.0.0.1', port: 3306 }, reason: 'promoted', version: 'v1', at: 0 },
      ...(['raised', 'cleared'] as const).map((what) => ({ type: 'split-brain' as const, what, service: { namespace: 'public', group: 'G', service: 's' }, candidates: [], version: 'v2', at: 0 })),
      { type: 'role-changed', key: 'k', instance, from: null, to: 'primary', at: 0 },
      ...(['up', 'down'] as const).map((what) => ({ type: 'member-changed' as const, what, nodeId: 'n2', url: 'http://127.0.0.1:1', reason: 'joined' as const, lastSeen: 0, at: 0, observedBy: 'n1' })),
    ];
    const produced = new Set(samples.map((e) => mapEvent(e)?.type));
    expect([...produced].sort()).toEqual([...EVENT_TYPES].sort());
    // Event data never carries metadata or checker options (they may hold secrets).
    for (const e of samples) expect(JSON.stringify(mapEvent(e)?.data)).not.toMatch(/metadata|options/);
  });
});

describe('webhook signing and backoff', () => {
  it('verifies its own signature within the tolerance only', () => {
    const header = sign('k'.repeat(16), 5_000, '{"a":1}');
    expect(verify('k'.repeat(16), header, '{"a":1}', 5_000)).toBe(true);
    expect(verify('k'.repeat(16), header, '{"a":2}', 5_000)).toBe(false);
    expect(verify('k'.repeat(16), header, '{"a":1}', 5_000 + 300_001)).toBe(false);
    expect(verify('k'.repeat(16), 'garbage', '{"a":1}', 5_000)).toBe(false);
  });

  it('doubles the delay from backoffMs up to maxBackoffMs, half of it jittered', () => {
    const c = { backoffMs: 100, maxBackoffMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(c, n, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect([1, 2, 3].map((n) => backoffDelay(c, n, () => 0))).toEqual([50, 100, 200]);
  });
});
