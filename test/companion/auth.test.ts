/**
 * The companion's Nacos credentials: one login, the token on every call, a new login before the
 * token's TTL runs out (fake clock) and after a 403 from a server that forgot its tokens.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/companion/auth.js';
import type { HttpAnswer } from '../../src/companion/http.js';
import { waitFor } from '../helpers/daemon.js';
import { closedPort } from '../helpers/servers.js';
import { startLocalCompanion, statusOf, switchableTcp, type LocalCompanion } from './helpers.js';
import { startScriptedNacos, type ScriptedNacos } from './scripted-nacos.js';

const DEADLINE = 20_000;

describe('auth token lifetime', () => {
  it('logs in once, renews at 80 % of tokenTtl, and again after invalidate()', async () => {
    let t = 1_000_000;
    let logins = 0;
    const auth = createAuth({
      credentials: { username: 'u', password: 'p' },
      now: () => t,
      login: async (): Promise<HttpAnswer> => ({ status: 200, text: JSON.stringify({ accessToken: `t${++logins}`, tokenTtl: 10 }), server: 's' }),
    });
    expect(await auth.params()).toEqual({ accessToken: 't1' });
    t += 7_999;
    expect(await auth.params()).toEqual({ accessToken: 't1' });
    t += 1;
    expect(await auth.params()).toEqual({ accessToken: 't2' });
    auth.invalidate();
    expect(await auth.params()).toEqual({ accessToken: 't3' });
    // A late 403 for a token already replaced does not throw the new one away.
    auth.invalidate('t2');
    expect(await auth.params()).toEqual({ accessToken: 't3' });
    expect(logins).toBe(3);
  });

  it('sends username and password on every call to a server without the login route', async () => {
    const auth = createAuth({
      credentials: { username: 'u', password: 'p' },
      now: () => 0,
      login: async (): Promise<HttpAnswer> => ({ status: 501, text: 'not implemented', server: 's' }),
    });
    expect(await auth.params()).toEqual({ username: 'u', password: 'p' });
    expect(auth.mode).toBe('params');
  });

  it('shares one login between concurrent callers', async () => {
    let logins = 0;
    const auth = createAuth({
      credentials: { username: 'u', password: 'p' },
      now: () => 0,
      login: async (): Promise<HttpAnswer> => ({ status: 200, text: JSON.stringify({ accessToken: `t${++logins}`, tokenTtl: 10 }), server: 's' }),
    });
    await Promise.all([auth.params(), auth.params(), auth.params()]);
    expect(logins).toBe(1);
  });
});

describe('companion with credentials', () => {
  let nacos: ScriptedNacos | undefined;
  let c: LocalCompanion | undefined;
  afterEach(async () => {
    await c?.stop();
    await nacos?.close();
  });

  it('writes with the token from its login (password from an environment variable), and logs in again after a 403', async () => {
    nacos = await startScriptedNacos({ user: { username: 'vigil', password: 's3cret', tokenTtl: 18000 } });
    const t = await switchableTcp();
    const down = await closedPort();
    nacos.services.set('svc', {
      clusters: new Map([['DEFAULT', { type: 'NONE' }]]),
      hosts: [
        { ip: '127.0.0.1', port: down, healthy: true, ephemeral: false, clusterName: 'DEFAULT' },
        { ip: '127.0.0.1', port: t.port, healthy: true, ephemeral: false, clusterName: 'DEFAULT' },
      ],
    });
    c = await startLocalCompanion(nacos.url.replace('http://', ''), { username: 'vigil', passwordEnv: 'NACOS_PW' }, { NACOS_PW: 's3cret' });
    const hosts = nacos.services.get('svc')!.hosts;
    await waitFor(() => hosts[0]!.healthy === false, DEADLINE);
    expect(nacos.logins).toBe(1);
    const writes = nacos.requests.filter((r) => r.path === '/ns/health/instance');
    expect(writes.map((w) => w.params.get('accessToken'))).toEqual(['token-1']);
    expect(nacos.requests.filter((r) => r.path !== '/auth/users/login').every((r) => r.params.get('accessToken') === 'token-1')).toBe(true);

    nacos.revokeTokens();
    await t.down();
    await waitFor(() => hosts[1]!.healthy === false, DEADLINE);
    expect(nacos.logins).toBe(2);
    expect((await statusOf(c.url)).conditions).toEqual([]);
    await t.close();
  });
});
