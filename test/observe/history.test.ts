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
});
