import { once } from 'node:events';
import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/api/server.js';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveSecurity } from '../../src/security/setup.js';
import { api, removeDir, tempDir, waitFor } from '../helpers/daemon.js';

/** Opens a raw connection and resolves with everything the server sent once it closes the connection. */
async function rawClient(url: string, send: string): Promise<{ socket: net.Socket; closed: Promise<string> }> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8').on('data', (d: string) => (received += d));
  const closed = once(socket, 'close').then(() => received);
  if (send) socket.write(send);
  return { socket, closed };
}

/** Rejects when `p` has not settled within `ms` (a generous deadline, not a measurement). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)));
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

describe('HTTP server limits (a daemon with short timeouts)', () => {
  let app: App;
  let url: string;
  let dataDir: string;
  let target: net.Server;

  beforeAll(async () => {
    dataDir = tempDir();
    // A TCP target the daemon probes throughout, to show that probing goes on beside slow clients.
    target = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const config = parseConfig({
      api: { port: 0 },
      store: { dataDir },
      server: { requestTimeoutMs: 300, headersTimeoutMs: 200, timeoutCheckIntervalMs: 50 },
      checks: { intervalMs: 200, timeoutMs: 100, fastIntervalMs: 200 },
    });
    app = buildApp(config, { logger: pino({ level: 'silent' }) });
    ({ url } = await app.start());
  });

  afterAll(async () => {
    await app.stop();
    target.close();
    removeDir(dataDir);
  });

  it('cuts off a body that keeps arriving one byte at a time, and probing goes on', async () => {
    const port = (target.address() as net.AddressInfo).port;
    const probed = { service: 'probed', ip: '127.0.0.1', port, checker: { type: 'tcp' } };
    // Setup, under the same 300 ms whole-request deadline as the slow clients: on a loaded machine the
    // registration itself was cut off once (408). It changes nothing when cut off, so ask again.
    const registered = await waitFor(async () => {
      const r = await api(url, 'POST', '/v1/instances', probed);
      return r.status === 408 ? undefined : r;
    }, 20_000);
    expect(registered.status).toBe(201);
    await waitFor(() => app.stats()!.probes > 0, 20_000);

    const head = 'POST /v1/instances HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
    const slow = await rawClient(url, head);
    // The client never stalls: a byte every 20 ms, so only a deadline on the whole request ends it.
    const drip = setInterval(() => slow.socket.write(' '), 20);
    let answer: string;
    try {
      answer = await within(slow.closed, 20_000);
    } finally {
      clearInterval(drip);
    }
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);

    const probesAtCut = app.stats()!.probes;
    await waitFor(() => app.stats()!.probes >= probesAtCut + 3, 20_000);
    const listed = (await api(url, 'GET', '/v1/instances?service=probed')).body.instances;
    expect(listed).toHaveLength(1);
    expect(listed[0].health.healthy).toBe(true);
    expect((await api(url, 'DELETE', `/v1/instances?service=probed&ip=127.0.0.1&port=${port}`)).status).toBe(200);
  });

  it('answers 408 and closes the connection of a client that sends its body a byte at a time and stalls', async () => {
    const head = 'POST /v1/instances HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{';
    const slow = await rawClient(url, head);
    const answer = await within(slow.closed, 10_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    // Nothing half-sent was registered.
    expect((await api(url, 'GET', '/v1/instances')).body.instances).toEqual([]);
  });

  it('closes a connection that never finishes its headers', async () => {
    const slow = await rawClient(url, 'GET /healthz HTTP/1.1\r\nHost: vig');
    await within(slow.closed, 10_000);
    expect(slow.socket.destroyed).toBe(true);
  });

  it('keeps answering other clients while slow ones hold connections', async () => {
    const slow = await Promise.all(Array.from({ length: 20 }, () => rawClient(url, 'POST /v1/instances HTTP/1.1\r\nHost: v\r\nContent-Length: 10\r\n\r\n')));
    const res = await api(url, 'GET', '/healthz');
    expect(res.status).toBe(200);
    await within(Promise.all(slow.map((s) => s.closed)), 10_000);
  });
});

describe('API connection cap', () => {
  it('closes connections beyond maxConnections as they arrive, keeping the ones it has', async () => {
    const { auth } = resolveSecurity(parseConfig({}), Date.now);
    const server = await createServer({ logger: pino({ level: 'silent' }), gate: { auth, anonymousReads: true }, maxConnections: 2 });
    server.get('/ping', { config: { access: 'public' } }, async () => 'pong');
    const url = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const first = await rawClient(url, '');
      const second = await rawClient(url, '');
      const third = await rawClient(url, '');
      await within(third.closed, 10_000);
      expect(first.socket.destroyed).toBe(false);
      expect(second.socket.destroyed).toBe(false);
      first.socket.write('GET /ping HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n');
      expect(await within(first.closed, 10_000)).toMatch(/pong/);
      second.socket.destroy();
    } finally {
      await server.close();
    }
  });
});
