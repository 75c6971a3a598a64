/**
 * Nothing secret is echoed: secrets are registered through every route (and sent in refused
 * requests, malformed input and CLI options), then every answer, every listing, the CLI's output
 * and the daemon's whole log are searched for them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, CLI, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { startHttpServer, startTcpServer, type TestServer } from '../helpers/servers.js';

const run = promisify(execFile);
const S = {
  token: 'TOK-red-1111-aaaa',
  user: 'USRPW-red-2222',
  credential: 'CRED-red-3333',
  inline: 'INL-red-4444',
  header: 'HDR-red-5555',
  header2: 'HDR-red-6666',
  config: 'CFG-red-7777',
  pwd: 'PWD-red-8888',
  badJson: 'BAD-red-9999',
  bodyJson: 'JSONBAD-red-1010',
  badHeader: 'HDRBAD-red-1212',
  cli: 'CLI-red-1515',
};
const SECRETS = Object.values(S);

let daemon: Daemon;
let tcp: TestServer;
let web: TestServer;
const outputs: string[] = [];
const auth = { authorization: `Bearer ${S.token}` };

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = auth): Promise<{ status: number; body: any }> {
  const res = await api(daemon.url, method, path, body, headers);
  outputs.push(typeof res.body === 'string' ? res.body : JSON.stringify(res.body));
  return res;
}

async function nacos(method: string, path: string, params: Record<string, string>): Promise<{ status: number; text: string }> {
  const u = new URL(`/nacos/v1/ns${path}`, daemon.url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const res = await fetch(u, { method });
  const text = await res.text();
  outputs.push(text, JSON.stringify([...res.headers]));
  return { status: res.status, text };
}

beforeAll(async () => {
  tcp = await startTcpServer((s) => s.destroy()); // a "MySQL" that hangs up: probes fail and log
  web = await startHttpServer((_q, s) => s.writeHead(503).end('down'));
  daemon = await startDaemon({
    config: {
      log: { level: 'debug' },
      api: { token: S.token, users: [{ username: 'app', password: S.user }] },
      credentials: { db: { user: 'u', password: S.credential, hosts: ['127.0.0.1'] } },
      checks: { intervalMs: 400, fastIntervalMs: 200, downIntervalMs: 400, timeoutMs: 300, jitter: 0 },
    },
  });
});

afterAll(async () => {
  await daemon?.stop();
  await tcp?.close();
  await web?.close();
});

describe('redaction at every output boundary', () => {
  it('registers secrets through every route, reads everything back, and finds none of them anywhere', async () => {
    // Native routes.
    expect((await call('POST', '/v1/instances', { service: 'db', ip: '127.0.0.1', port: tcp.port, checker: { type: 'mysql', options: { user: 'root', password: S.inline } } })).status).toBe(201);
    expect((await call('POST', '/v1/instances', { service: 'dbc', ip: '127.0.0.1', port: tcp.port, checker: { type: 'mysql', options: { credential: 'db' } } })).status).toBe(201);
    expect((await call('POST', '/v1/instances', { service: 'web', ip: '127.0.0.1', port: web.port, checker: { type: 'http', options: { headers: { authorization: `Bearer ${S.header}`, 'x-api-key': S.header2 } } } })).status).toBe(201);
    expect((await call('PUT', '/v1/checker-configs', { service: 'db2', checker: { type: 'mysql', options: { password: S.config } } })).status).toBe(200);
    // Nacos routes, with the user's password as the npm client sends it.
    const creds = { username: 'app', password: S.user };
    expect((await nacos('PUT', '/cluster', { serviceName: 'db3', clusterName: 'DEFAULT', healthChecker: JSON.stringify({ type: 'MYSQL', user: 'u', pwd: S.pwd, cmd: 'select 1' }), ...creds })).status).toBe(200);
    expect((await nacos('POST', '/instance', { serviceName: 'db3', ip: '127.0.0.1', port: String(tcp.port), ephemeral: 'false', ...creds })).status).toBe(200);

    // Refused and malformed input that carries secrets.
    expect((await nacos('PUT', '/cluster', { serviceName: 'db4', clusterName: 'DEFAULT', healthChecker: `{"type":"MYSQL","pwd":"${S.badJson}"`, ...creds })).status).toBe(400);
    expect((await nacos('PUT', '/cluster', { serviceName: 'db4', clusterName: 'DEFAULT', healthChecker: JSON.stringify({ type: 'MYSQL', pwd: S.badJson, extra: 1 }), ...creds })).status).toBe(400);
    expect((await nacos('POST', '/instance', { serviceName: 'db5', ip: '127.0.0.1', port: '1', username: 'app', password: `${S.user}x` })).status).toBe(403);
    expect((await call('POST', '/v1/instances', `{"service":"x","checker":{"options":{"password":"${S.bodyJson}"`)).status).toBe(400);
    expect((await call('POST', '/v1/instances', { service: 'x', ip: '127.0.0.1', port: 1, checker: { type: 'http', options: { headers: { authorization: `${S.badHeader}\n` } } } })).status).toBe(400);
    expect((await call('POST', '/v1/instances', { service: 'x', ip: '127.0.0.1', port: 1, checker: { type: 'mysql', options: { password: S.inline, passwrd: S.inline } } })).status).toBe(400);
    expect((await call('PUT', '/v1/switches', { activeChecks: true }, { authorization: `Bearer ${S.token}-wrong` })).status).toBe(401);

    // Let probes run and fail, so health changes and probe errors reach the log.
    await waitFor(async () => {
      const { body } = await api(daemon.url, 'GET', '/v1/instances', undefined, auth);
      return body.instances.length === 4 && body.instances.every((i: { lastProbe: unknown; health: { healthy: boolean } }) => i.lastProbe && !i.health.healthy);
    }, 20_000);

    // Every read route.
    for (const path of ['/v1/instances', '/v1/checker-configs', '/v1/services', '/v1/whitelist', '/v1/checkers', '/v1/switches', '/v1/beat/status', '/healthz']) await call('GET', path);
    for (const svc of ['db', 'dbc', 'web', 'db2', 'db3']) {
      await nacos('GET', '/instance/list', { serviceName: svc });
      await nacos('GET', '/service', { serviceName: svc });
    }
    await nacos('GET', '/instance', { serviceName: 'db3', ip: '127.0.0.1', port: String(tcp.port) });
    await nacos('GET', '/service/list', { pageNo: '1', pageSize: '100' });
    await nacos('GET', '/operator/metrics', {});

    // The CLI.
    const env = { ...process.env, VIGIL_TOKEN: S.token };
    for (const args of [['status', '--url', daemon.url], ['status', '--url', daemon.url, '--json'], ['checkers']]) {
      const r = await run(process.execPath, [CLI, ...args], { env });
      outputs.push(r.stdout, r.stderr);
    }
    for (const extra of [['--json'], []]) {
      const r = await run(process.execPath, [CLI, 'check', 'mysql', `127.0.0.1:${tcp.port}`, '-o', `password=${S.cli}`, ...extra], { env }).catch((e: { stdout: string; stderr: string }) => e);
      outputs.push(r.stdout, r.stderr);
    }
    const failing = await run(process.execPath, [CLI, 'check', 'mysql', `127.0.0.1:${tcp.port}`, '-o', `password=${S.cli}`, '-o', `bogus=${S.cli}`]).catch((e: { stdout: string; stderr: string }) => e);
    outputs.push(failing.stdout, failing.stderr);

    const everything = [...outputs, daemon.output()].join('\n');
    expect(everything).toContain('***'); // the checks above did print redacted values
    expect(daemon.output()).toContain('health changed'); // and the log was written
    for (const secret of SECRETS) expect(everything.includes(secret), `${secret} leaked`).toBe(false);
  }, 60_000);
});
