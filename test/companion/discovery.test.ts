/** Reading the server: paged service lists, failing over between addresses, the shared rate limit. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRateLimiter } from '../../src/companion/rate-limit.js';
import { waitFor } from '../helpers/daemon.js';
import { closedPort } from '../helpers/servers.js';
import { startLocalCompanion, statusOf, type LocalCompanion } from './helpers.js';
import { startScriptedNacos, type ScriptedNacos } from './scripted-nacos.js';

const DEADLINE = 20_000;

describe('discovery', () => {
  let nacos: ScriptedNacos | undefined;
  let c: LocalCompanion | undefined;
  afterEach(async () => {
    await c?.stop();
    await nacos?.close();
  });

  it('reads every page of service/list and writes through the next address when the first does not answer', async () => {
    nacos = await startScriptedNacos();
    const down = await closedPort();
    for (let i = 0; i < 5; i++) {
      nacos.services.set(`s${i}`, { clusters: new Map([['DEFAULT', { type: 'NONE' }]]), hosts: [{ ip: '127.0.0.1', port: down, healthy: true, ephemeral: false, clusterName: 'DEFAULT' }] });
    }
    const dead = await closedPort();
    c = await startLocalCompanion(`127.0.0.1:${dead},${nacos.url.replace('http://', '')}`, { pageSize: 2 });
    await waitFor(() => [...nacos!.services.values()].every((s) => s.hosts[0]!.healthy === false), DEADLINE);
    const status = await statusOf(c.url);
    expect(status).toMatchObject({ server: nacos.url, services: 5, instances: 5, writes: { sent: 5 } });
    expect(status.polls.failed).toBeGreaterThanOrEqual(1);
    expect(status.conditions).toEqual([]);
    // One poll: pages 1, 2 and 3 of two services each.
    const pages = nacos.requests.filter((r) => r.path === '/ns/service/list').slice(0, 3).map((r) => [r.params.get('pageNo'), r.params.get('pageSize')]);
    expect(pages).toEqual([['1', '2'], ['2', '2'], ['3', '2']]);
    // Reads and health writes only: nothing registered, deregistered, or changed otherwise.
    expect(new Set(nacos.requests.map((r) => `${r.method} ${r.path}`))).toEqual(
      new Set(['GET /console/namespaces', 'GET /ns/service/list', 'GET /ns/service', 'GET /ns/instance/list', 'PUT /ns/health/instance']),
    );
  });
});

describe('rate limiter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets requests through at the configured rate, in order, after the burst', async () => {
    vi.useFakeTimers({ now: 0 });
    const limiter = createRateLimiter({ perSecond: 10, burst: 2 }, () => Date.now());
    const done: number[] = [];
    for (let i = 0; i < 4; i++) void limiter.wait().then(() => done.push(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toEqual([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toEqual([0, 1, 2, 3]);
    expect(limiter.taken).toBe(4);
  });
});
