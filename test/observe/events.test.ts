import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, waitFor } from '../helpers/daemon.js';
import { startTcpServer, type TestServer } from '../helpers/servers.js';
import { connectSse, type SseClient } from '../helpers/sse.js';
import { startApp, type TestApp } from './app.js';

const opened: SseClient[] = [];
const sse = async (url: string, headers: Record<string, string> = {}) => {
  const c = await connectSse(url, headers);
  opened.push(c);
  return c;
};
afterEach(() => {
  for (const c of opened.splice(0)) c.close();
});

describe('GET /v1/events', () => {
  let t: TestApp;
  let target: TestServer;
  const whitelist = (reason: string) => api(t.url, 'POST', '/v1/whitelist', { service: 'maint', reason });

  beforeAll(async () => {
    target = await startTcpServer((s) => s.end());
    t = await startApp({ observe: { events: { historySize: 50 } } });
  });
  afterAll(async () => {
    await t.stop();
    await target.close();
  });

  it('tells a client of a health change from the first probe that saw it', async () => {
    await api(t.url, 'POST', '/v1/instances', { service: 'cache', ip: '127.0.0.1', port: target.port, checker: { type: 'tcp' } });
    await waitFor(async () => (await api(t.url, 'GET', '/v1/instances?service=cache')).body.instances[0].lastProbe);
    const client = await sse(`${t.url}/v1/events?service=cache&types=health-changed`);
    expect(client.status).toBe(200);
    const closedAt = Date.now();
    await target.close();
    const e = await client.next((x) => x.event === 'health-changed');
    expect(e.data.data).toMatchObject({ healthy: false, from: true, reason: 'refused', decidedBy: 'checker' });
    expect(e.data.scope).toMatchObject({ service: 'DEFAULT_GROUP@@cache', kind: 'persistent' });
    expect(e.id).toBe(e.data.id);
    // The flip came from the first probe that started after the target went away.
    const id = encodeURIComponent(`127.0.0.1#${target.port}#DEFAULT#DEFAULT_GROUP@@cache`);
    const hist = (await api(t.url, 'GET', `/v1/instances/${id}/history`)).body;
    const after = hist.results.filter((r: { startedAt: number }) => r.startedAt >= closedAt);
    expect(after[0]).toMatchObject({ status: 'fail-now', reason: 'refused', startedAt: e.data.data.lastProbe.startedAt });
  });

  it('resumes after Last-Event-ID with exactly the events missed', async () => {
    const first = await sse(`${t.url}/v1/events?types=whitelist-added`);
    await whitelist('seen');
    const seen = await first.next((e) => e.event === 'whitelist-added');
    first.close();
    for (const r of ['missed-1', 'missed-2', 'missed-3']) expect((await whitelist(r)).status).toBe(201);

    const again = await sse(`${t.url}/v1/events?types=whitelist-added`, { 'last-event-id': seen.id! });
    for (let i = 0; i < 3; i++) await again.next();
    expect(again.events.map((e) => e.data.data.entry.reason)).toEqual(['missed-1', 'missed-2', 'missed-3']);
    const [boot, n] = seen.id!.split('-');
    expect(again.events.map((e) => e.id)).toEqual([1, 2, 3].map((k) => `${boot}-${Number(n) + k}`));
    // Live events follow the replay on the same stream.
    await whitelist('live');
    expect((await again.next()).data.data.entry.reason).toBe('live');
  });

  it('says resync when the missed events are no longer held, or the id is from another run', async () => {
    const first = await sse(`${t.url}/v1/events`);
    await whitelist('old');
    const old = await first.next((e) => e.event === 'whitelist-added');
    first.close();
    for (let i = 0; i < 60; i++) await whitelist(`flood-${i}`);
    const late = await sse(`${t.url}/v1/events`, { 'last-event-id': old.id! });
    const resync = await late.next();
    expect(resync.event).toBe('resync');
    expect(resync.id).toBe(resync.data.lastEventId);
    const stranger = await sse(`${t.url}/v1/events?lastEventId=abc-3`);
    expect((await stranger.next()).event).toBe('resync');
  });

  it('passes only the events of the filtered service and kind, and daemon-wide events', async () => {
    const only = await sse(`${t.url}/v1/events?service=DEFAULT_GROUP@@alpha&kind=persistent`);
    const reg = (service: string) => api(t.url, 'POST', '/v1/instances', { service, ip: '127.0.0.1', port: 9, checker: { type: 'tcp' } });
    await reg('beta');
    await reg('alpha');
    await api(t.url, 'PUT', '/v1/switches', { activeChecks: false });
    await api(t.url, 'PUT', '/v1/switches', { activeChecks: true });
    await only.next((e) => e.event === 'switch-changed' && e.data.data.value === true);
    const names = only.events.map((e) => `${e.event} ${e.data.scope?.service ?? '-'}`);
    expect(names).toContain('instance-registered DEFAULT_GROUP@@alpha');
    expect(names.filter((n) => n.includes('beta'))).toEqual([]);
  });

  it('announces an override that does not flip health, and its clearing', async () => {
    const id = { service: 'held', ip: '127.0.0.1', port: 9 };
    await api(t.url, 'POST', '/v1/instances', { ...id, checker: { type: 'tcp' } });
    await waitFor(async () => (await api(t.url, 'GET', '/v1/instances?service=held')).body.instances[0].health.healthy === false);
    const stream = await sse(`${t.url}/v1/events?service=held&types=override-set,override-cleared,health-changed`);
    expect((await api(t.url, 'PUT', '/v1/overrides', { ...id, healthy: false, reason: 'disk swap' })).status).toBe(200);
    const set = await stream.next();
    expect(set.event).toBe('override-set');
    expect(set.data.data).toMatchObject({ healthy: false, override: { healthy: false, reason: 'disk swap' } });
    expect((await api(t.url, 'DELETE', '/v1/overrides?service=held&ip=127.0.0.1&port=9')).status).toBe(200);
    const cleared = await stream.next();
    expect(cleared.event).toBe('override-cleared');
    expect(cleared.data.data.override).toBeNull();
    expect(stream.events.map((e) => e.event)).toEqual(['override-set', 'override-cleared']);
  });

  it('refuses unknown filters and malformed ids with a 400 naming the field', async () => {
    const cases: Array<[string, Record<string, string>, string, string]> = [
      ['?color=red', {}, 'VIGIL_ERR_EVENTS_FILTER', 'color'],
      ['?types=health-changed,bogus', {}, 'VIGIL_ERR_EVENTS_FILTER', 'types'],
      ['?kind=both', {}, 'VIGIL_ERR_EVENTS_FILTER', 'kind'],
      ['?service=bad%20name', {}, 'VIGIL_ERR_EVENTS_FILTER', 'service'],
      ['', { 'last-event-id': 'yesterday' }, 'VIGIL_ERR_EVENTS_LAST_ID', 'Last-Event-ID'],
      ['?lastEventId=12', {}, 'VIGIL_ERR_EVENTS_LAST_ID', 'lastEventId'],
    ];
    for (const [query, headers, code, field] of cases) {
      const res = await api(t.url, 'GET', `/v1/events${query}`, undefined, headers);
      expect(res.status, query).toBe(400);
      expect(res.body, query).toMatchObject({ code, field });
    }
  });
});
