/**
 * `vigil primary` usage and error paths (no database needed): they exit 3, never 0/1/2, which
 * mean one / none / split (those are exercised against real replication in test/api/primary.test.ts).
 */
import { spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { primaryCommand, PrimaryExit } from '../../src/cli/primary.js';
import { parseConfig } from '../../src/config/load.js';
import { api, CLI, ensureBuilt, removeDir, tempDir } from '../helpers/daemon.js';

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await primaryCommand(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

async function closedPortUrl(): Promise<string> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

describe('vigil primary', () => {
  it('exits 3 with the usage when no service or two services are given', async () => {
    for (const args of [[], ['a', 'b']]) {
      const r = await run(...args);
      expect(r).toMatchObject({ code: PrimaryExit.error, stdout: '' });
      expect(r.stderr).toMatch(/^VIGIL_ERR_CONFIG_INVALID: give exactly one service name\nusage: vigil primary/);
    }
  });

  it('exits 3 on an unknown option, naming it', async () => {
    const r = await run('orders-db', '--bogus');
    expect(r.code).toBe(PrimaryExit.error);
    expect(r.stderr).toContain("'--bogus'");
  });

  it('exits 3 when the daemon does not answer', async () => {
    const url = await closedPortUrl();
    const r = await run('orders-db', '--url', url);
    expect(r.code).toBe(PrimaryExit.error);
    expect(r.stderr).toContain(`${url} did not answer`);
  });
});

/** The built CLI as a process, as a shell script would run it. */
async function spawnCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, 'primary', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr };
}

describe('vigil primary against a daemon that wants a token for reads', () => {
  const TOKEN = 'primary-cli-token-1234';
  let app: App;
  let url: string;
  let dataDir: string;

  beforeAll(async () => {
    ensureBuilt();
    dataDir = tempDir();
    app = buildApp(parseConfig({ api: { port: 0, token: TOKEN, anonymousReads: false, users: [{ username: 'reader', password: 'reader-pass-1', role: 'read' }] }, store: { dataDir }, checks: { enabled: false } }), { logger: pino({ level: 'silent' }) });
    ({ url } = await app.start());
    // Probing is off: the service exists and no instance has reported a role.
    const reg = await api(url, 'POST', '/v1/instances', { service: 'orders-db', ip: '127.0.0.1', port: 3306 }, { authorization: `Bearer ${TOKEN}` });
    expect(reg.status).toBe(201);
  });

  afterAll(async () => {
    await app?.stop();
    removeDir(dataDir);
  });

  it('exits 1 (none) with the reason, reading the token from VIGIL_TOKEN', async () => {
    const r = await spawnCli(['orders-db', '--url', url], { VIGIL_TOKEN: TOKEN });
    expect(r).toEqual({ code: PrimaryExit.none, stdout: '', stderr: 'vigil primary: no primary for orders-db: not-probed\n' });
  });

  it('exits 3 without the token, and never prints it', async () => {
    const r = await spawnCli(['orders-db', '--url', url], { VIGIL_TOKEN: '' });
    expect(r.code).toBe(PrimaryExit.error);
    expect(r.stderr).toContain('VIGIL_ERR_UNAUTHORIZED');
    expect(r.stderr).not.toContain(TOKEN);
  });

  it("accepts a user's credentials in the query, as Nacos clients send them", async () => {
    const r = await api(url, 'GET', '/v1/services/orders-db/primary?username=reader&password=reader-pass-1');
    expect(r).toMatchObject({ status: 503, body: { code: 'VIGIL_ERR_PRIMARY_NONE', reason: 'not-probed' } });
    const wrong = await api(url, 'GET', '/v1/services/orders-db/primary?username=reader&password=nope');
    expect(wrong.status).toBe(401);
  });

  it('exits 3 for a service without instances', async () => {
    const r = await spawnCli(['nope-db', '--url', url], { VIGIL_TOKEN: TOKEN });
    expect(r.code).toBe(PrimaryExit.error);
    expect(r.stderr).toContain('VIGIL_ERR_NOT_FOUND');
  });
});
