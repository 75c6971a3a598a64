/**
 * Nacos-compatible credentials: every write on every Nacos route needs a user's username/password
 * (as the npm client sends them on every call), an accessToken from the login route, or the bearer
 * token; refusals are 403 as in Nacos, with a stable code, and change nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { beatStatus, list, nacos, namingClient, startVigil, until, type NamingClient, type Vigil } from '../nacos/helpers.js';

const USERS = [
  { username: 'app', password: 'app-pass-91x', role: 'write' },
  { username: 'viewer', password: 'viewer-pass-2k', role: 'read' },
  { username: 'ops', password: 'ops-pass-55q', role: 'admin' },
];
const TOKEN = 'nacos-auth-bearer-1'; // configured, so writes need a credential even beside users
let clock = Date.parse('2026-12-01T00:00:00Z');
let vigil: Vigil;

beforeAll(async () => {
  vigil = await startVigil({ api: { token: TOKEN, users: USERS, tokenTtlMs: 60_000 }, checks: { enabled: false } }, { now: () => clock });
});
afterAll(async () => {
  await vigil?.stop();
});

const reg = (port: number): Record<string, string> => ({ serviceName: 'DEFAULT_GROUP@@auth-svc', ip: '127.0.0.1', port: String(port), ephemeral: 'false' });
const WRITES: Array<[string, string, Record<string, string | number>]> = [
  ['POST', '/instance', reg(7001)],
  ['PUT', '/instance', { ...reg(7001), weight: 2 }],
  ['PUT', '/instance/beat', { serviceName: 'auth-eph', beat: JSON.stringify({ serviceName: 'DEFAULT_GROUP@@auth-eph', ip: '127.0.0.9', port: 1, cluster: 'DEFAULT' }) }],
  ['PUT', '/health/instance', { ...reg(7001), healthy: 'false' }],
  ['PUT', '/cluster', { serviceName: 'auth-svc', clusterName: 'DEFAULT', healthChecker: '{"type":"TCP"}' }],
  ['POST', '/service', { serviceName: 'auth-new' }],
  ['PUT', '/service', { serviceName: 'auth-new', protectThreshold: 0.5 }],
  ['DELETE', '/service', { serviceName: 'auth-new' }],
  ['DELETE', '/instance', reg(7001)],
];

async function registry(): Promise<string> {
  const r = await nacos(vigil.url, 'GET', '/service/list', { pageNo: 1, pageSize: 100 });
  const rows = await list(vigil.url, 'DEFAULT_GROUP@@auth-svc');
  return JSON.stringify([r.json, rows, await beatStatus(vigil.url).then((b) => b.instances)]);
}

describe('Nacos routes with auth on', () => {
  it('refuses each write without a credential with 403 VIGIL_ERR_UNAUTHORIZED and changes nothing', async () => {
    const before = await registry();
    for (const [method, path, params] of WRITES) {
      const r = await nacos(vigil.url, method, path, params);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.code).toBe('VIGIL_ERR_UNAUTHORIZED');
    }
    expect(await registry()).toBe(before);
  });

  it('refuses a wrong password and an unknown user with 403 VIGIL_ERR_AUTH_INVALID, echoing neither', async () => {
    const before = await registry();
    for (const creds of [{ username: 'app', password: 'wrong-pass-x' }, { username: 'nobody', password: 'app-pass-91x' }]) {
      const r = await nacos(vigil.url, 'POST', '/instance', { ...reg(7002), ...creds });
      expect(r.status).toBe(403);
      expect(r.code).toBe('VIGIL_ERR_AUTH_INVALID');
      expect(r.text).not.toContain(creds.password);
    }
    expect(await registry()).toBe(before);
  });

  it('accepts username/password parameters, a form body, an accessToken, and the bearer token', async () => {
    for (const [method, path, params] of WRITES) {
      const r = await nacos(vigil.url, method, path, { ...params, username: 'app', password: 'app-pass-91x' });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(200);
    }
    const form = new URLSearchParams({ ...reg(7003), username: 'app', password: 'app-pass-91x' }).toString();
    expect((await nacos(vigil.url, 'POST', '/instance', {}, form)).status).toBe(200);

    const login = await fetch(new URL('/nacos/v1/auth/users/login', vigil.url), {
      method: 'POST',
      body: 'username=app&password=app-pass-91x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(login.status).toBe(200);
    const answer = (await login.json()) as { accessToken: string; tokenTtl: number; globalAdmin: boolean };
    expect(answer).toEqual({ accessToken: expect.any(String), tokenTtl: 60, globalAdmin: false });
    expect((await nacos(vigil.url, 'POST', '/instance', { ...reg(7004), accessToken: answer.accessToken })).status).toBe(200);

    const bearer = await fetch(new URL(`/nacos/v1/ns/instance?${new URLSearchParams({ ...reg(7005) })}`, vigil.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(bearer.status).toBe(200);
    const ports = (await list(vigil.url, 'DEFAULT_GROUP@@auth-svc')).map((h) => h.port).sort();
    expect(ports).toEqual([7003, 7004, 7005]);
  });

  it('refuses an expired or forged accessToken and a wrong login, and nothing changes', async () => {
    const login = await fetch(new URL('/nacos/v1/auth/users/login?username=app&password=app-pass-91x', vigil.url), { method: 'POST' });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const before = await registry();
    clock += 60_001;
    const expired = await nacos(vigil.url, 'POST', '/instance', { ...reg(7006), accessToken });
    expect(expired.status).toBe(403);
    expect(expired.code).toBe('VIGIL_ERR_AUTH_EXPIRED');
    const forged = await nacos(vigil.url, 'POST', '/instance', { ...reg(7006), accessToken: `${accessToken.split('.')[0]}.AAAA` });
    expect(forged.code).toBe('VIGIL_ERR_AUTH_INVALID');
    const bad = await fetch(new URL('/nacos/v1/auth/users/login?username=app&password=nope', vigil.url), { method: 'POST' });
    expect(bad.status).toBe(403);
    expect(bad.headers.get('x-vigil-error-code')).toBe('VIGIL_ERR_AUTH_INVALID');
    expect(await registry()).toBe(before);
  });

  it('gives each role only its routes: read users cannot write, write users cannot switch checking off', async () => {
    const viewer = await nacos(vigil.url, 'POST', '/instance', { ...reg(7007), username: 'viewer', password: 'viewer-pass-2k' });
    expect(viewer.status).toBe(403);
    expect(viewer.code).toBe('VIGIL_ERR_FORBIDDEN');
    const app = await nacos(vigil.url, 'PUT', '/operator/switches', { entry: 'healthCheckEnabled', value: 'false', username: 'app', password: 'app-pass-91x' });
    expect(app.code).toBe('VIGIL_ERR_FORBIDDEN');
    const ops = await nacos(vigil.url, 'PUT', '/operator/switches', { entry: 'healthCheckEnabled', value: 'true', username: 'ops', password: 'ops-pass-55q' });
    expect(ops.status).toBe(200);
  });
});

describe('the real nacos npm client with auth on', () => {
  const clients: NamingClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => {});
  });

  it('registers, beats, subscribes and deregisters with username/password', async () => {
    const beatsBefore = (await beatStatus(vigil.url)).counters.beats as number;
    const c = await namingClient(vigil, { username: 'app', password: 'app-pass-91x' });
    clients.push(c);
    await c.registerInstance('client-svc', { ip: '127.0.0.1', port: 18090 });
    const hosts = await new Promise<any[]>((resolve) => c.subscribe('client-svc', (h) => h.length > 0 && resolve(h)));
    expect(hosts).toEqual([expect.objectContaining({ ip: '127.0.0.1', port: 18090, healthy: true })]);
    // The client's first beat comes ~10 s after it starts; it must be accepted (counted) too.
    await until(async () => (await beatStatus(vigil.url)).counters.beats > beatsBefore, 25_000, 200);
    await c.deregisterInstance('client-svc', { ip: '127.0.0.1', port: 18090 });
    await until(async () => (await list(vigil.url, 'DEFAULT_GROUP@@client-svc')).length === 0, 5000);
  }, 40_000);

  it('is refused without credentials: nothing is registered', async () => {
    const c = await namingClient(vigil);
    clients.push(c);
    await expect(c.registerInstance('client-anon', { ip: '127.0.0.1', port: 18091 })).rejects.toThrow();
    expect(await list(vigil.url, 'DEFAULT_GROUP@@client-anon')).toEqual([]);
  });
});

describe('api.anonymousReads: false', () => {
  it('protects listings too (403 on Nacos, 401 native) and serves them with a credential', async () => {
    const closed = await startVigil({ api: { users: USERS, anonymousReads: false }, checks: { enabled: false } });
    try {
      const anon = await nacos(closed.url, 'GET', '/instance/list', { serviceName: 'x' });
      expect(anon.status).toBe(403);
      expect((await fetch(new URL('/v1/instances', closed.url))).status).toBe(401);
      expect((await nacos(closed.url, 'GET', '/instance/list', { serviceName: 'x', username: 'viewer', password: 'viewer-pass-2k' })).status).toBe(200);
      expect((await fetch(new URL('/healthz', closed.url))).status).toBe(200);
    } finally {
      await closed.stop();
    }
  });
});
