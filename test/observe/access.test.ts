import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../helpers/daemon.js';
import { connectSse } from '../helpers/sse.js';
import { startApp, type TestApp } from './app.js';

const TOKEN = 'observe-access-token';

describe('observability routes behind the gate (api.anonymousReads: false)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ api: { token: TOKEN, anonymousReads: false }, checks: { enabled: false } });
  });
  afterAll(() => t.stop());

  it('keeps /metrics and the page public and asks a credential for data', async () => {
    expect((await fetch(`${t.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${t.url}/`)).status).toBe(200);
    expect((await fetch(`${t.url}/status/page.js`)).status).toBe(200);
    for (const path of ['/v1/events', '/v1/history', '/badge/web.svg']) {
      const res = await api(t.url, 'GET', path);
      expect(res.status, path).toBe(401);
      expect(res.body.code, path).toBe('VIGIL_ERR_UNAUTHORIZED');
    }
    const stream = await connectSse(`${t.url}/v1/events`, { authorization: `Bearer ${TOKEN}` });
    expect(stream.status).toBe(200);
    stream.close();
    expect((await api(t.url, 'GET', '/v1/history', undefined, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });
});

describe('events from the beat module', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ checks: { enabled: false }, beat: { clientBeatIntervalMs: 100, heartbeatTimeoutMs: 300, deleteTimeoutMs: 600, sweepIntervalMs: 100 } });
  });
  afterAll(() => t.stop());

  it('announces an ephemeral instance going down and then expiring, and counts the expiry', async () => {
    const stream = await connectSse(`${t.url}/v1/events?kind=ephemeral&types=instance-registered,health-changed,instance-expired`);
    const res = await api(t.url, 'POST', '/v1/instances', { service: 'app', ip: '127.0.0.1', port: 7000, ephemeral: true });
    expect(res.status).toBe(201);
    expect((await stream.next()).event).toBe('instance-registered');
    const down = await stream.next();
    expect(down.event).toBe('health-changed');
    expect(down.data.data).toMatchObject({ healthy: false, reason: 'beat-timeout', decidedBy: 'beat' });
    const gone = await stream.next();
    expect(gone.event).toBe('instance-expired');
    expect(gone.data.scope).toMatchObject({ kind: 'ephemeral', service: 'DEFAULT_GROUP@@app' });
    stream.close();
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/^vigil_ephemeral_expired_total 1$/m);
    expect(text).toMatch(/^vigil_health_transitions_total\{checker="beat",to="down"\} 1$/m);
  });
});
