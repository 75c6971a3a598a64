/**
 * Failed credential checks are limited per client address (`server.loginFailuresPerMinute`), on the
 * login route and on every route that takes username/password (the npm client sends them on every
 * call), with one count. Past the limit, a credential that never verified is refused with 429 and a
 * stable code until the minute is over — the right password included, so guessing cannot go on —
 * while a credential that verified before keeps working: a guesser on the same address cannot stop
 * a real client's beats.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nacos, startVigil, type Vigil } from './helpers.js';

let clock = Date.parse('2026-12-01T00:00:00Z');
let vigil: Vigil;
const USERS = [
  { username: 'app', password: 'app-pass-91x', role: 'write' },
  { username: 'ops', password: 'ops-pass-55q', role: 'admin' },
  { username: 'svc', password: 'svc-pass-3kd', role: 'write' },
  { username: 'new', password: 'new-pass-7qp', role: 'write' },
];

beforeAll(async () => {
  vigil = await startVigil({ api: { users: USERS }, server: { loginFailuresPerMinute: 3 }, checks: { enabled: false } }, { now: () => clock });
});
afterAll(async () => {
  await vigil?.stop();
});

async function login(username: string, password: string, path = '/nacos/v1/auth/users/login'): Promise<{ status: number; code: string | null; text: string }> {
  const res = await fetch(new URL(path, vigil.url), {
    method: 'POST',
    body: `username=${username}&password=${encodeURIComponent(password)}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: res.status, code: res.headers.get('x-vigil-error-code'), text: await res.text() };
}

const register = (username: string, password: string, port: number) =>
  nacos(vigil.url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@limited', ip: '127.0.0.1', port, username, password });

describe('failed-login limit', () => {
  it('refuses unverified logins from an address after its failures until the minute is over, but not a password that verified before', async () => {
    expect((await login('app', 'app-pass-91x')).status).toBe(200); // verified: remembered
    for (let i = 0; i < 3; i++) {
      const r = await login('app', `wrong-${i}`);
      expect([r.status, r.code]).toEqual([403, 'VIGIL_ERR_AUTH_INVALID']);
    }
    const limited = await login('ops', 'ops-pass-55q'); // right, but never verified: no answer either way
    expect([limited.status, limited.code]).toEqual([429, 'VIGIL_ERR_LOGIN_RATE_LIMITED']);
    expect(limited.text).toMatch(/failed logins/);
    expect(limited.text).not.toContain('ops-pass-55q');
    expect((await login('app', 'wrong-again')).status).toBe(429); // guessing stops
    expect((await login('ops', 'ops-pass-55q', '/nacos/v1/auth/login')).status).toBe(429); // both paths, one count
    expect((await login('app', 'app-pass-91x')).status).toBe(200); // the real client goes on

    clock += 59_000;
    expect((await login('ops', 'ops-pass-55q')).status).toBe(429);
    clock += 1_000;
    const after = await login('ops', 'ops-pass-55q');
    expect(after.status, after.text).toBe(200);
    expect(JSON.parse(after.text)).toMatchObject({ tokenTtl: expect.any(Number), globalAdmin: true });
  });

  it('does not count a request without a username as a failed guess', async () => {
    clock += 120_000;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(new URL('/nacos/v1/auth/users/login', vigil.url), { method: 'POST' });
      expect(res.status).toBe(403);
    }
    expect((await login('svc', 'svc-pass-3kd')).status).toBe(200);
  });

  it('counts wrong passwords sent with any write, and keeps a verified client writing while a guesser is refused', async () => {
    clock += 120_000;
    expect((await register('app', 'app-pass-91x', 7101)).status).toBe(200); // verified
    for (let i = 0; i < 3; i++) {
      const r = await register('svc', `guess-${i}`, 7102);
      expect([r.status, r.code]).toEqual([403, 'VIGIL_ERR_AUTH_INVALID']);
    }
    // Over the limit: a password never verified is refused without being checked, right or wrong…
    const unverified = await register('new', 'new-pass-7qp', 7103);
    expect([unverified.status, unverified.code]).toEqual([429, 'VIGIL_ERR_LOGIN_RATE_LIMITED']);
    expect((await register('svc', 'guess-3', 7104)).status).toBe(429);
    // …while credentials that verified before (here, by the login route) still write.
    expect((await register('svc', 'svc-pass-3kd', 7105)).status).toBe(200);
    expect((await register('app', 'app-pass-91x', 7106)).status).toBe(200); // beats and writes go on
    // The login route shares the count.
    expect((await login('nobody', 'x')).status).toBe(429);
    const listed = await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@limited' });
    expect(listed.json.hosts.map((h: { port: number }) => h.port).sort()).toEqual([7101, 7105, 7106]);
  });
});
