import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, removeDir, tempDir, waitFor } from '../helpers/daemon.js';
import { startTcpServer, type TestServer } from '../helpers/servers.js';
import { startApp } from './app.js';

describe('probe history over the API', () => {
  let target: TestServer;
  const dataDir = tempDir();
  let id: string;

  beforeAll(async () => {
    target = await startTcpServer((s) => s.end());
    id = encodeURIComponent(`127.0.0.1#${target.port}#DEFAULT#DEFAULT_GROUP@@cache`);
  });
  afterAll(async () => {
    await target.close();
    removeDir(dataDir);
  });

  it('gives the last results, uptime and latency percentiles, and keeps uptime across a restart', async () => {
    const first = await startApp({}, { dataDir });
    try {
      await api(first.url, 'POST', '/v1/instances', { service: 'cache', ip: '127.0.0.1', port: target.port, checker: { type: 'tcp' } });
      const h = await waitFor(async () => {
        const body = (await api(first.url, 'GET', `/v1/instances/${id}/history?last=5`)).body;
        return body.results?.length === 5 && body;
      });
      expect(h.key).toBe(`public/DEFAULT_GROUP@@cache/DEFAULT/127.0.0.1:${target.port}`);
      expect(h.results.every((r: { status: string; reason: string }) => r.status === 'ok' && r.reason === 'connected')).toBe(true);
      expect(h.uptime['24h']).toBe(1);
      expect(h.latencyMs.p99).toBeGreaterThanOrEqual(h.latencyMs.p50);
      const all = (await api(first.url, 'GET', '/v1/history?service=cache&last=2')).body;
      expect(all.instances).toHaveLength(1);
      expect(all.instances[0].results).toHaveLength(2);
    } finally {
      await first.stop();
    }
    // Probing off: whatever uptime the second run shows was read back from disk.
    const second = await startApp({ checks: { enabled: false } }, { dataDir });
    try {
      const h = (await api(second.url, 'GET', `/v1/instances/${id}/history`)).body;
      expect(h.results).toEqual([]);
      expect(h.uptime).toEqual({ '24h': 1, '7d': 1, '30d': 1 });
    } finally {
      await second.stop();
    }
  });

  it('answers bad selectors with a 4xx naming the field', async () => {
    const t = await startApp({ checks: { enabled: false } });
    try {
      const cases: Array<[string, number, string]> = [
        ['/v1/instances/127.0.0.1%231%23DEFAULT/history', 400, 'instanceId'],
        ['/v1/instances/127.0.0.1%23x%23DEFAULT%23svc/history', 400, 'instanceId.port'],
        ['/v1/instances/not-an-ip%231%23DEFAULT%23svc/history', 400, 'instanceId.ip'],
        ['/v1/instances/127.0.0.1%231%23DEFAULT%23svc/history', 404, 'instanceId'],
        ['/v1/history?colour=red', 400, 'colour'],
        ['/v1/history?last=0', 400, 'last'],
        ['/v1/history?limit=0', 400, 'limit'],
        ['/v1/history?limit=1001', 400, 'limit'],
        ['/v1/history?last=1001', 400, 'last'],
        ['/v1/history?limit=x', 400, 'limit'],
        ['/v1/history?cursor=', 400, 'cursor'],
      ];
      for (const [path, status, field] of cases) {
        const res = await api(t.url, 'GET', path);
        expect(res.status, path).toBe(status);
        expect(res.body.field, path).toBe(field);
      }
    } finally {
      await t.stop();
    }
  });

  it('pages one instance\'s results from the newest back with limit and nextCursor, and refuses bad paging with 400 naming the field', async () => {
    const t = await startApp({ checks: { intervalMs: 200, fastIntervalMs: 100, timeoutMs: 150 } });
    try {
      await api(t.url, 'POST', '/v1/instances', { service: 'cache', ip: '127.0.0.1', port: target.port, checker: { type: 'tcp' } });
      await waitFor(async () => (await api(t.url, 'GET', `/v1/instances/${id}/history?limit=7`)).body.results?.length === 7, 20_000);
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await api(t.url, 'GET', `/v1/instances/${id}/history?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        const times = (res.body.results as Array<{ startedAt: number }>).map((r) => r.startedAt);
        expect(times.length).toBeLessThanOrEqual(3);
        // Each page is oldest first and wholly older than the page before it (probes go on meanwhile).
        if (seen.length) expect(times.at(-1)!).toBeLessThan(seen[0]!);
        seen.unshift(...times);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor !== null && pages < 100);
      expect(cursor).toBeNull();
      expect(seen.length).toBeGreaterThanOrEqual(7);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
      expect(new Set(seen).size).toBe(seen.length);

      const bad: Array<[string, string]> = [
        ['limit=0', 'limit'],
        ['limit=1001', 'limit'],
        ['limit=3&last=3', 'last'],
        ['cursor=abc', 'cursor'],
        ['cursor=0', 'cursor'],
        ['cursor=999999999', 'cursor'],
        ['page=2', 'page'],
      ];
      for (const [query, field] of bad) {
        const res = await api(t.url, 'GET', `/v1/instances/${id}/history?${query}`);
        expect(res.status, query).toBe(400);
        expect(res.body.code, query).toBe('VIGIL_ERR_REQUEST_INVALID');
        expect(res.body.field, query).toBe(field);
      }
    } finally {
      await t.stop();
    }
  });

  it('pages the instances of GET /v1/history by key like GET /v1/instances', async () => {
    const t = await startApp({ checks: { enabled: false } });
    try {
      for (const port of [7001, 7002, 7003]) expect((await api(t.url, 'POST', '/v1/instances', { service: 'paged', ip: '127.0.0.1', port })).status).toBe(201);
      const first = (await api(t.url, 'GET', '/v1/history?service=paged&limit=2')).body;
      expect(first.instances.map((i: { key: string }) => i.key.slice(-4))).toEqual(['7001', '7002']);
      expect(first.nextCursor).toEqual(expect.any(String));
      const second = (await api(t.url, 'GET', `/v1/history?service=paged&limit=2&cursor=${encodeURIComponent(first.nextCursor)}`)).body;
      expect(second.instances.map((i: { key: string }) => i.key.slice(-4))).toEqual(['7003']);
      expect(second.nextCursor).toBeNull();
      expect(second.instances[0]).toMatchObject({ results: [], uptime: { '24h': null } });
    } finally {
      await t.stop();
    }
  });
});
