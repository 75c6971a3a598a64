/**
 * Failed logins are limited per client address (`server.loginFailuresPerMinute`): past the limit,
 * every login from that address is a 429 with a stable code until its minute is over — the right
 * password included, so guessing cannot go on behind the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVigil, type Vigil } from './helpers.js';

let clock = Date.parse('2026-12-01T00:00:00Z');
let vigil: Vigil;

beforeAll(async () => {
  vigil = await startVigil(
    { api: { users: [{ username: 'app', password: 'app-pass-91x', role: 'write' }] }, server: { loginFailuresPerMinute: 3 }, checks: { enabled: false } },
    { now: () => clock },
  );
});
afterAll(async () => {
  await vigil?.stop();
});

async function login(password: string, path = '/nacos/v1/auth/users/login'): Promise<{ status: number; code: string | null; text: string }> {
  const res = await fetch(new URL(path, vigil.url), {
    method: 'POST',
    body: `username=app&password=${encodeURIComponent(password)}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: res.status, code: res.headers.get('x-vigil-error-code'), text: await res.text() };
}

describe('login rate limit', () => {
  it('refuses every login from an address after its failures, until the minute is over', async () => {
    expect((await login('app-pass-91x')).status).toBe(200); // successes are not counted
    for (let i = 0; i < 3; i++) {
      const r = await login(`wrong-${i}`);
      expect([r.status, r.code]).toEqual([403, 'VIGIL_ERR_AUTH_INVALID']);
    }
    const limited = await login('app-pass-91x');
    expect([limited.status, limited.code]).toEqual([429, 'VIGIL_ERR_LOGIN_RATE_LIMITED']);
    expect(limited.text).toMatch(/failed logins/);
    expect(limited.text).not.toContain('app-pass-91x');
    // Both login paths share the count.
    expect((await login('app-pass-91x', '/nacos/v1/auth/login')).status).toBe(429);

    clock += 59_000;
    expect((await login('app-pass-91x')).status).toBe(429);
    clock += 1_000;
    const after = await login('app-pass-91x');
    expect(after.status, after.text).toBe(200);
    expect(JSON.parse(after.text)).toMatchObject({ tokenTtl: expect.any(Number) });
  });

  it('does not count a request without a username as a failed guess', async () => {
    clock += 120_000;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(new URL('/nacos/v1/auth/users/login', vigil.url), { method: 'POST' });
      expect(res.status).toBe(403);
    }
    expect((await login('app-pass-91x')).status).toBe(200);
  });
});
