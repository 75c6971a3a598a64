/**
 * The TCP checker's handle-level path (src/health/fast-connect.ts) for plain connects to IP
 * literals, against real loopback listeners: the same outcomes as the net.Socket path, and every
 * handle closed whichever way the probe ends.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import tcp from '../../checkers/tcp.js';
import { rawConnect, rawConnectFamily } from '../../src/health/fast-connect.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { closedPort, startTcpServer, type TestServer } from '../helpers/servers.js';
import { startFullListener } from '../helpers/target-process.js';

const runner = createRunner();
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(): Promise<TestServer> {
  const s = await startTcpServer();
  servers.push(s);
  return s;
}

function probe(host: string, port: number, raw: object = {}) {
  return runner.run({ checker: tcp, target: { host, port, metadata: {} }, options: parseOptions(tcp, raw), timeoutMs: 2000, resources: createResourcePool().scope('tcp') });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('tcp checker, handle-level connect', () => {
  it('takes the fast path only for an IP literal of the configured family', () => {
    expect(rawConnectFamily('127.0.0.1', 0)).toBe(4);
    expect(rawConnectFamily('::1', 0)).toBe(6);
    expect(rawConnectFamily('127.0.0.1', 4)).toBe(4);
    expect(rawConnectFamily('127.0.0.1', 6)).toBe(0);
    expect(rawConnectFamily('localhost', 0)).toBe(0);
  });

  it('answers like the net path: connected to an IP literal and to a name', async () => {
    const s = await server();
    expect(await probe('127.0.0.1', s.port)).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(await probe('localhost', s.port, { family: 4 })).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(s.connections).toBe(2);
  });

  it('marks a refused connection fail-now with the code and address in the detail, as net does', async () => {
    const port = await closedPort();
    const result = await probe('127.0.0.1', port);
    expect(result).toMatchObject({ status: 'fail-now', reason: 'refused', detail: `connect ECONNREFUSED 127.0.0.1:${port}` });
  });

  it('settles as a connect timeout when its signal aborts before or during the connect', async () => {
    const s = await server();
    expect(await rawConnect('127.0.0.1', 4, s.port, { signal: AbortSignal.abort() })).toEqual({ status: 'fail', reason: 'timeout', detail: 'connect timed out' });
    const controller = new AbortController();
    const pending = rawConnect('127.0.0.1', 4, s.port, controller);
    controller.abort(); // the handshake completes in a later turn of the loop at the earliest
    expect(await pending).toEqual({ status: 'fail', reason: 'timeout', detail: 'connect timed out' });
  });

  it('closes every handle: the descriptor count returns to where it was after a thousand probes of each outcome', async () => {
    const s = await server();
    const refused = await closedPort();
    await probe('127.0.0.1', s.port); // warm-up: lazily opened descriptors (epoll, pipes) are not leaks
    const before = openFds();
    for (let i = 0; i < 1000; i++) {
      const controller = new AbortController();
      const aborted = rawConnect('127.0.0.1', 4, s.port, controller);
      controller.abort();
      await Promise.all([probe('127.0.0.1', s.port), probe('127.0.0.1', refused), aborted]);
    }
    // Closes complete on the loop's close phase: wait for it instead of sleeping.
    await new Promise((resolve) => setImmediate(resolve));
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  it('ends a connect that never completes at the probe deadline, through the runner\'s hook, and closes its handle', async () => {
    const target = await startFullListener();
    try {
      await target.hang();
      await probe('127.0.0.1', (await server()).port); // warm-up, as above
      const before = openFds();
      const result = await runner.run({ checker: tcp, target: { host: '127.0.0.1', port: target.port, metadata: {} }, options: parseOptions(tcp, {}), timeoutMs: 300, resources: createResourcePool().scope('tcp') });
      expect(result).toMatchObject({ status: 'fail', reason: 'timeout', detail: 'no answer within 300 ms' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(openFds()).toBeLessThanOrEqual(before);
    } finally {
      await target.kill();
    }
  });
});
