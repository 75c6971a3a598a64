import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { api, removeDir, tempDir } from '../helpers/daemon.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

async function daemon(server: object = {}, apiConfig: object = {}): Promise<{ app: App; url: string }> {
  const dataDir = tempDir();
  dirs.push(dataDir);
  const app = buildApp(parseConfig({ api: { port: 0, ...apiConfig }, store: { dataDir }, checks: { enabled: false }, server }), { logger: pino({ level: 'silent' }) });
  const { url } = await app.start();
  return { app, url };
}

const key = (i: { service: string; ip: string; port: number }) => `${i.service} ${i.ip}:${i.port}`;

describe('GET /v1/instances: pages, cursor and filters', () => {
  let app: App;
  let url: string;

  beforeAll(async () => {
    ({ app, url } = await daemon());
    for (let p = 1; p <= 12; p++) {
      const res = await api(url, 'POST', '/v1/instances', { service: p <= 8 ? 'web' : 'db', ip: '127.0.0.1', port: 9000 + p, ephemeral: p % 4 === 0 });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await app.stop();
  });

  it('walks every instance exactly once in pages of `limit`, even when one is deleted between pages', async () => {
    const seen: string[] = [];
    const first = (await api(url, 'GET', '/v1/instances?limit=5')).body;
    expect(first.instances).toHaveLength(5);
    seen.push(...first.instances.map(key));
    // The last instance of the first page goes away: the cursor still resumes after it.
    const last = first.instances[4];
    expect((await api(url, 'DELETE', `/v1/instances?service=${last.service}&ip=${last.ip}&port=${last.port}`)).status).toBe(200);
    let cursor: string | null = first.nextCursor;
    while (cursor !== null) {
      const page = (await api(url, 'GET', `/v1/instances?limit=5&cursor=${encodeURIComponent(cursor)}`)).body;
      expect(page.instances.length).toBeLessThanOrEqual(5);
      seen.push(...page.instances.map(key));
      cursor = page.nextCursor;
    }
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
    await api(url, 'POST', '/v1/instances', { service: last.service, ip: last.ip, port: last.port, ephemeral: last.ephemeral });
  });

  it('filters by service, health and kind', async () => {
    for (const port of [9001, 9002]) {
      expect((await api(url, 'PUT', '/v1/overrides', { service: 'web', ip: '127.0.0.1', port, healthy: false })).status).toBe(200);
    }
    const list = async (q: string) => (await api(url, 'GET', `/v1/instances?${q}`)).body.instances.map(key).sort();
    expect(await list('service=db')).toHaveLength(4);
    expect(await list('healthy=false')).toEqual(['web 127.0.0.1:9001', 'web 127.0.0.1:9002']);
    expect(await list('kind=ephemeral')).toEqual(['db 127.0.0.1:9012', 'web 127.0.0.1:9004', 'web 127.0.0.1:9008']);
    expect(await list('service=web&kind=persistent&healthy=true')).toHaveLength(4);
  });

  it.each([['limit=0', 'limit'], ['limit=5001', 'limit'], ['limit=abc', 'limit'], ['healthy=maybe', 'healthy'], ['kind=other', 'kind']])(
    'refuses %s naming the field',
    async (q, field) => {
      const res = await api(url, 'GET', `/v1/instances?${q}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'VIGIL_ERR_REQUEST_INVALID', field });
    },
  );
});

describe('per-client read rate limit', () => {
  it('answers 429 VIGIL_ERR_RATE_LIMITED to a client over its reads a second, but never limits writes or /healthz', async () => {
    const { app, url } = await daemon({ readsPerSecond: 2 });
    try {
      const reads = await Promise.all(Array.from({ length: 40 }, () => api(url, 'GET', '/v1/instances')));
      const limited = reads.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]!.body).toMatchObject({ code: 'VIGIL_ERR_RATE_LIMITED', field: 'client' });
      expect(reads.every((r) => r.status === 200 || r.status === 429)).toBe(true);
      const health = await Promise.all(Array.from({ length: 20 }, () => api(url, 'GET', '/healthz')));
      expect(health.every((r) => r.status === 200)).toBe(true);
      const writes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => api(url, 'POST', '/v1/instances', { service: 'w', ip: '127.0.0.1', port: 7000 + i })),
      );
      expect(writes.map((r) => r.status)).toEqual(Array(10).fill(201));
    } finally {
      await app.stop();
    }
  });

  it('does not limit a client that carries an admin credential', async () => {
    const token = 'listing-admin-token-1';
    const { app, url } = await daemon({ readsPerSecond: 2 }, { token });
    try {
      const admin = await Promise.all(Array.from({ length: 40 }, () => fetch(new URL('/v1/instances', url), { headers: { authorization: `Bearer ${token}` } })));
      expect(admin.map((r) => r.status)).toEqual(Array(40).fill(200));
      // The same address without the credential is limited.
      const anonymous = await Promise.all(Array.from({ length: 40 }, () => api(url, 'GET', '/v1/instances')));
      expect(anonymous.some((r) => r.status === 429)).toBe(true);
    } finally {
      await app.stop();
    }
  });
});

