import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { api, removeDir, tempDir, waitFor } from '../helpers/daemon.js';

let app: App;
let url: string;
let dataDir: string;
let server: Server;
let port: number;
let connections = 0;

const key = () => ({ service: 'cache', ip: '127.0.0.1', port });
const instance = async () => (await api(url, 'GET', '/v1/instances?service=cache')).body.instances[0];

beforeAll(async () => {
  server = createServer((s) => {
    connections++;
    s.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
  dataDir = tempDir();
  app = buildApp(
    parseConfig({ api: { port: 0 }, store: { dataDir }, checks: { intervalMs: 100, fastIntervalMs: 50, downIntervalMs: 100, timeoutMs: 80, jitter: 0 } }),
    { logger: pino({ level: 'silent' }) },
  );
  ({ url } = await app.start());
  await api(url, 'POST', '/v1/instances', { ...key(), checker: { type: 'tcp' } });
  await waitFor(async () => (await instance()).lastProbe);
});

afterAll(async () => {
  await app.stop();
  server.close();
  removeDir(dataDir);
});

describe('operator override', () => {
  it('sets health by hand and suspends probing until the override expires', async () => {
    const res = await api(url, 'PUT', '/v1/overrides', { ...key(), healthy: false, ttlMs: 3000, reason: 'replacing the disk' });
    expect(res.status).toBe(200);
    expect(res.body.health).toMatchObject({ healthy: false, decidedBy: 'operator' });
    expect(res.body.exempt).toMatchObject({ by: 'override', reason: 'replacing the disk' });
    await waitFor(() => app.stats()!.running === 0); // a probe already in flight may still land
    const during = connections;
    // Events, not sleeps: two due probes of this instance were skipped as exempt.
    const exempt = app.stats()!.exempt;
    await waitFor(() => app.stats()!.exempt >= exempt + 2);
    expect(connections).toBe(during);
    expect((await instance()).health.healthy).toBe(false);

    // After the expiry the probes decide again: the target accepts, so it comes back up.
    const back = await waitFor(async () => {
      const i = await instance();
      return i.health.healthy && !i.health.override ? i : undefined;
    }, 15_000);
    expect(back.exempt).toBeNull();
    expect(connections).toBeGreaterThan(during);
  });

  it('clears an override on DELETE and lets probes decide', async () => {
    await api(url, 'PUT', '/v1/overrides', { ...key(), healthy: false });
    expect((await instance()).health.healthy).toBe(false);
    const res = await api(url, 'DELETE', `/v1/overrides?service=cache&ip=127.0.0.1&port=${port}`);
    expect(res.status).toBe(200);
    expect(res.body.exempt).toBeNull();
    await waitFor(async () => (await instance()).health.healthy, 5000);
  });
});

describe('the global switch', () => {
  it('stops every active check while off, says so, and resumes when on again', async () => {
    expect((await api(url, 'PUT', '/v1/switches', { activeChecks: false })).body).toEqual({ activeChecks: false });
    await waitFor(() => app.stats()!.running === 0); // let a probe already in flight finish
    const before = connections;
    const exempt = app.stats()!.exempt;
    await waitFor(() => app.stats()!.exempt >= exempt + 2); // two due probes skipped
    expect(connections).toBe(before);
    expect((await instance()).exempt).toMatchObject({ by: 'switch' });
    await api(url, 'PUT', '/v1/switches', { activeChecks: true });
    await waitFor(() => connections > before, 15_000);
  });
});
