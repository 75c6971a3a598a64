/** The beat module's native routes: a beat for a natively registered ephemeral instance, and its status. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../helpers/daemon.js';
import { startVigil, type Vigil } from '../nacos/helpers.js';

let vigil: Vigil;

beforeAll(async () => {
  vigil = await startVigil();
});

afterAll(async () => {
  await vigil.stop();
});

describe('native beat routes', () => {
  it('beats an ephemeral instance registered through the native API', async () => {
    const reg = await api(vigil.url, 'POST', '/v1/instances', { service: 'native', ip: '127.0.0.1', port: 7100, ephemeral: true });
    expect(reg.status).toBe(201);
    const r = await api(vigil.url, 'PUT', '/v1/beat', { service: 'native', ip: '127.0.0.1', port: 7100 });
    expect(r).toEqual({ status: 200, body: { clientBeatIntervalMs: 5000 } });
  });

  it('answers 404 for an instance it does not track, and 400 naming a bad field', async () => {
    expect((await api(vigil.url, 'PUT', '/v1/beat', { service: 'native', ip: '127.0.0.1', port: 7199 })).status).toBe(404);
    const bad = await api(vigil.url, 'PUT', '/v1/beat', { service: 'native', ip: '127.0.0.1', port: 'abc' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'VIGIL_ERR_REQUEST_INVALID', field: 'port' });
  });

  it('reports expiry settings, counters, stalls and self-preservation', async () => {
    const { body } = await api(vigil.url, 'GET', '/v1/beat/status');
    expect(body).toMatchObject({
      ephemeralInstances: 1,
      settings: { clientBeatIntervalMs: 5000, heartbeatTimeoutMs: 15000, deleteTimeoutMs: 30000, expireInstance: true },
      stall: { totalMs: expect.any(Number) },
      selfPreservation: { enabled: true, engaged: false, policy: { maxExpireFraction: 0.25, renewalThreshold: 0.85 } },
    });
  });
});
