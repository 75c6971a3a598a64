/**
 * The TCP checker's `handshake: half` (src/health/half-open.ts): a plain connect to an IP literal
 * resets on the SYN-ACK, so the target's application never accepts the probe's connection, with
 * the same outcomes as a full handshake. Against real loopback listeners; the listener's count of
 * accepted connections is what tells the two handshakes apart.
 */
import { readdirSync } from 'node:fs';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi, type TestContext } from 'vitest';
import tcp from '../../checkers/tcp.js';
import { rawConnect } from '../../src/health/fast-connect.js';
import { halfOpenAvailable } from '../../src/health/half-open.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { ensureBuilt } from '../helpers/daemon.js';
import { closedPort, startTcpServer, type TestServer } from '../helpers/servers.js';

const runner = createRunner();
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(host = '127.0.0.1'): Promise<TestServer> {
  const s = await startTcpServer();
  servers.push(s);
  if (host !== '127.0.0.1') {
    // startTcpServer listens on 127.0.0.1; a second listener on ::1 for the IPv6 case.
    await new Promise<void>((resolve, reject) => s.server.close((err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => s.server.once('error', reject).listen(s.port, host, resolve));
  }
  return s;
}

function probe(host: string, port: number, raw: object) {
  return runner.run({ checker: tcp, target: { host, port, metadata: {} }, options: parseOptions(tcp, raw), timeoutMs: 2000, resources: createResourcePool().scope('tcp') });
}

/** Under CI the machine is Linux x64 with koffi installed: half-open sockets must be available there. */
function needHalfOpen(ctx: TestContext): void {
  if (halfOpenAvailable()) return;
  if (process.env.CI === 'true') throw new Error('half-open sockets are not available (koffi did not load)');
  ctx.skip(`half-open sockets need Linux x64/arm64 and koffi (npm ci); not available here`);
}

/**
 * Waits until the listener has accepted `n` connections in all and holds none open. A full-handshake
 * probe sent after the half-open ones is the marker: the listener accepts in arrival order, so once
 * the marker is in, any half-open probe the listener had accepted would be counted too.
 */
async function acceptedSoFar(s: TestServer, n: number): Promise<number> {
  await vi.waitFor(() => expect(s.connections).toBeGreaterThanOrEqual(n), { timeout: 20_000, interval: 5 });
  await vi.waitFor(() => expect(s.open.size).toBe(0), { timeout: 20_000, interval: 5 });
  return s.connections;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('tcp checker, handshake: half', () => {
  it('is connected without the target accepting a connection; handshake full is accepted', async (ctx) => {
    needHalfOpen(ctx);
    const s = await server();
    for (let i = 0; i < 20; i++) expect(await probe('127.0.0.1', s.port, { handshake: 'half' })).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(await probe('127.0.0.1', s.port, { handshake: 'full' })).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(await acceptedSoFar(s, 1)).toBe(1);
  });

  it('works over IPv6 as well', async (ctx) => {
    needHalfOpen(ctx);
    let s: TestServer;
    try {
      s = await server('::1');
    } catch (err) {
      // The CI machine has IPv6 loopback: a failure to listen there is a failure, not a skip.
      if (process.env.CI === 'true') throw err;
      return ctx.skip('no IPv6 loopback on this machine');
    }
    expect(await probe('::1', s.port, { handshake: 'half' })).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(await probe('::1', s.port, { handshake: 'full' })).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(await acceptedSoFar(s, 1)).toBe(1);
  });

  it('answers a refused connection as the full handshake does', async (ctx) => {
    needHalfOpen(ctx);
    const port = await closedPort();
    const half = await probe('127.0.0.1', port, { handshake: 'half' });
    const full = await probe('127.0.0.1', port, { handshake: 'full' });
    expect(half).toMatchObject({ status: 'fail-now', reason: 'refused', detail: `connect ECONNREFUSED 127.0.0.1:${port}` });
    expect({ ...half, latencyMs: 0, startedAt: 0 }).toEqual({ ...full, latencyMs: 0, startedAt: 0 });
  });

  it('completes the handshake for a host name (half-open needs an IP literal)', async () => {
    const s = await server();
    expect(await probe('localhost', s.port, { handshake: 'half', family: 4 })).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(await acceptedSoFar(s, 1)).toBe(1);
  });

  it('settles a cancelled probe as a connect timeout and closes every socket it made', async (ctx) => {
    needHalfOpen(ctx);
    const s = await server();
    const refused = await closedPort();
    await probe('127.0.0.1', s.port, { handshake: 'half' }); // warm-up: koffi and libc load once per thread
    expect(await rawConnect('127.0.0.1', 4, s.port, { signal: AbortSignal.abort() }, true)).toEqual({ status: 'fail', reason: 'timeout', detail: 'connect timed out' });
    const before = openFds();
    for (let i = 0; i < 500; i++) {
      const controller = new AbortController();
      const aborted = rawConnect('127.0.0.1', 4, s.port, controller, true);
      controller.abort();
      await Promise.all([probe('127.0.0.1', s.port, { handshake: 'half' }), probe('127.0.0.1', refused, { handshake: 'half' }), aborted]);
    }
    // A connect cancelled before the SYN-ACK leaves the listener a connection it sees closed: wait for those.
    await vi.waitFor(() => expect(s.open.size).toBe(0), { timeout: 20_000, interval: 5 });
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  it('loads in a probe worker thread too', async (ctx) => {
    needHalfOpen(ctx);
    ensureBuilt();
    const url = new URL('../../dist/src/health/half-open.js', import.meta.url).href;
    const worker = new Worker(`import(${JSON.stringify(url)}).then((m) => require('node:worker_threads').parentPort.postMessage(m.halfOpenAvailable()))`, { eval: true });
    const [available] = (await once(worker, 'message')) as [boolean];
    await worker.terminate();
    expect(available).toBe(true);
  });
});
