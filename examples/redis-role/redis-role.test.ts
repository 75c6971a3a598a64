/**
 * The example plugin against real, private redis-server processes on loopback (a primary, a
 * replica of it and one with a password), loaded the way the daemon loads any plugin.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeResult } from 'vigil';
import { builtinCheckers } from '../../checkers/index.js';
import { createCheckerRegistry } from '../../src/health/checker-registry.js';
import { redactOptions } from '../../src/health/options.js';
import { loadPlugin } from '../../src/health/plugin-loader.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { inCI } from '../../test/helpers/ci.js';

const PLUGIN = fileURLToPath(new URL('./index.ts', import.meta.url));
const PASSWORD = 'correct horse battery staple';

const registry = createCheckerRegistry(builtinCheckers);
const runner = createRunner();
const pool = createResourcePool();

beforeAll(async () => {
  await loadPlugin(registry, PLUGIN);
});

afterAll(async () => {
  await pool.closeAll();
});

function probe(port: number, options: Record<string, unknown> = {}, timeoutMs = 2000): Promise<ProbeResult> {
  return runner.run({
    checker: registry.get('redis-role'),
    target: { host: '127.0.0.1', port, metadata: {} },
    options: registry.parseOptions('redis-role', options),
    timeoutMs,
    resources: pool.scope('redis-role'),
  });
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('redis-role plugin: loading and options', () => {
  it('registers type redis-role beside the built-ins, from its plugin path', () => {
    expect(registry.types()).toEqual([...builtinCheckers.map((c) => c.type), 'redis-role']);
    expect(registry.list().at(-1)?.source).toBe(`plugin ${PLUGIN}`);
  });

  it('defaults requirePrimary to false and keeps the password out of any listing', () => {
    const checker = registry.get('redis-role');
    expect(registry.parseOptions('redis-role', {})).toEqual({ requirePrimary: false });
    const options = registry.parseOptions('redis-role', { password: PASSWORD });
    expect(JSON.stringify(redactOptions(checker, options))).not.toContain(PASSWORD);
    expect(checker.secretOptions).toEqual(['password']);
  });

  it('refuses a username without a password, naming the field', () => {
    expect(() => registry.parseOptions('redis-role', { username: 'app' })).toThrow(
      expect.objectContaining({ code: 'VIGIL_ERR_CHECKER_OPTION_INVALID', field: 'options.username' }),
    );
  });
});

describe('redis-role plugin: without a Redis server', () => {
  it('answers fail-now refused when nothing listens on the port', async () => {
    const result = await probe(await freePort());
    expect(result).toMatchObject({ type: 'redis-role', status: 'fail-now', reason: 'refused' });
  });

  it('answers fail timeout by the deadline when the server never replies, and closes its socket', async () => {
    // The error listener goes on at accept: the checker's close may reach this side before the test looks.
    const server = net.createServer((socket) => socket.on('error', () => {}));
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const port = await listen(server);
    try {
      const result = await probe(port, {}, 150);
      expect(result).toMatchObject({ status: 'fail', reason: 'timeout' });
      const [socket] = await accepted;
      // Read (and drop) what the checker sent so the server side sees its FIN: no leaked connection.
      socket.resume();
      if (!socket.destroyed) await once(socket, 'close');
    } finally {
      server.close();
    }
  });

  it('honours its signal by itself: returns timeout at once when aborted mid-conversation', async () => {
    const server = net.createServer((socket) => socket.on('error', () => {}));
    const port = await listen(server);
    const checker = registry.get('redis-role');
    const ac = new AbortController();
    try {
      const outcome = checker.check({
        target: { host: '127.0.0.1', port, metadata: {} },
        options: registry.parseOptions('redis-role', {}),
        signal: ac.signal,
        timeoutMs: 10_000,
        deadline: performance.now() + 10_000,
        resources: pool.scope('redis-role'),
      });
      await once(server, 'connection');
      ac.abort(new DOMException('probe deadline reached', 'TimeoutError'));
      // The client may not have seen its own 'connect' yet, so the detail may say either.
      await expect(outcome).resolves.toMatchObject({ status: 'fail', reason: 'timeout' });
    } finally {
      server.close();
    }
  });

  it('answers fail-now protocol when the service is not Redis', async () => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    });
    const port = await listen(server);
    try {
      const result = await probe(port);
      expect(result).toMatchObject({ status: 'fail-now', reason: 'protocol' });
      expect(result.detail).toContain('HTTP/1.1 400');
    } finally {
      server.close();
    }
  });
});

// --- Real redis-server processes -------------------------------------------------------------

const haveRedis = spawnSync('redis-server', ['--version']).error === undefined;
const ci = inCI();
const ENABLE = 'install it to run them: apt-get install redis-server';
if (!haveRedis && !ci) {
  console.warn(`redis-role: redis-server not found, skipping the tests against a real Redis; ${ENABLE}`);
}

interface Redis {
  readonly port: number;
  readonly proc: ChildProcess;
  readonly dir: string;
}

/** Starts a private redis-server on a free port and resolves once it accepts connections. */
async function startRedis(extra: string[] = []): Promise<Redis> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // Its own directory: a replica writes the RDB it receives from its primary to disk.
    const dir = await mkdtemp(join(tmpdir(), 'vigil-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
    const proc = spawn('redis-server', [...args, '--dir', dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await ready(proc);
      return { port, proc, dir };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      // Another process may have taken the port between freePort() and the bind: try another.
      if (attempt >= 3) throw err;
    }
  }
}

function ready(proc: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) done();
    };
    const onExit = (code: number | null): void => done(new Error(`redis-server exited (${code}) before it was ready:\n${log}`));
    const done = (err?: Error): void => {
      proc.stdout?.off('data', onData);
      proc.off('exit', onExit).off('error', done);
      if (err) reject(err);
      else resolve();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    proc.once('exit', onExit).once('error', done);
  });
}

async function stopRedis(redis: Redis | undefined): Promise<void> {
  if (!redis) return;
  if (redis.proc.exitCode === null && redis.proc.signalCode === null) {
    const exited = once(redis.proc, 'exit');
    redis.proc.kill('SIGTERM');
    await exited;
  }
  await rm(redis.dir, { recursive: true, force: true });
}

describe.skipIf(!haveRedis && !ci)('redis-role plugin: against real redis-server processes', () => {
  let primary: Redis | undefined;
  let replica: Redis | undefined;
  let locked: Redis | undefined;

  const port = (r: Redis | undefined): number => {
    if (!r) throw new Error('redis-server did not start');
    return r.port;
  };

  beforeAll(async () => {
    if (!haveRedis) throw new Error(`redis-server is not installed, and CI must run these tests; ${ENABLE}`);
    primary = await startRedis();
    [replica, locked] = await Promise.all([
      startRedis(['--replicaof', '127.0.0.1', String(primary.port)]),
      startRedis(['--requirepass', PASSWORD]),
    ]);
  });

  afterAll(async () => {
    await Promise.all([stopRedis(replica), stopRedis(locked)]);
    await stopRedis(primary);
  });

  it('reports a primary as ok with role primary', async () => {
    const result = await probe(port(primary));
    expect(result).toMatchObject({ status: 'ok', reason: 'primary', facts: { role: 'primary' } });
    expect(result.latencyMs).toBeGreaterThan(0);
  });

  it('reports a replica as ok with role replica, naming its primary', async () => {
    const result = await probe(port(replica));
    expect(result).toMatchObject({ status: 'ok', reason: 'replica', facts: { role: 'replica' } });
    expect(result.detail).toContain(`replica of 127.0.0.1:${port(primary)}`);
  });

  it('answers a counted fail with reason replica when a primary is required', async () => {
    expect(await probe(port(replica), { requirePrimary: true })).toMatchObject({
      status: 'fail',
      reason: 'replica',
      facts: { role: 'replica' },
    });
    expect(await probe(port(primary), { requirePrimary: true })).toMatchObject({ status: 'ok', reason: 'primary' });
  });

  it('authenticates with the password, or with the ACL user and password', async () => {
    expect(await probe(port(locked), { password: PASSWORD })).toMatchObject({ status: 'ok', facts: { role: 'primary' } });
    expect(await probe(port(locked), { username: 'default', password: PASSWORD })).toMatchObject({ status: 'ok' });
  });

  it('answers fail-now auth when the password is wrong, without echoing it', async () => {
    const wrong = 'not-the-password';
    const result = await probe(port(locked), { password: wrong });
    expect(result).toMatchObject({ status: 'fail-now', reason: 'auth' });
    expect(result.detail).toMatch(/^WRONGPASS/);
    expect(JSON.stringify(result)).not.toContain(wrong);
  });

  it('answers fail-now auth when the server needs a password and none is given', async () => {
    const result = await probe(port(locked));
    expect(result).toMatchObject({ status: 'fail-now', reason: 'auth' });
    expect(result.detail).toMatch(/^NOAUTH/);
  });

  it('answers fail-now auth when a password is sent to a server that has none', async () => {
    expect(await probe(port(primary), { password: PASSWORD })).toMatchObject({ status: 'fail-now', reason: 'auth' });
  });

  it('answers fail-now refused once the server is gone', async () => {
    const gone = await startRedis();
    await stopRedis(gone);
    expect(await probe(gone.port)).toMatchObject({ status: 'fail-now', reason: 'refused' });
  });
});
