import { once } from 'node:events';
import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/api/server.js';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveSecurity } from '../../src/security/setup.js';
import { api, removeDir, tempDir } from '../helpers/daemon.js';

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

  beforeAll(async () => {
    dataDir = tempDir();
    const config = parseConfig({
      api: { port: 0 },
      store: { dataDir },
      server: { requestTimeoutMs: 300, headersTimeoutMs: 200, timeoutCheckIntervalMs: 50 },
    });
    app = buildApp(config, { logger: pino({ level: 'silent' }) });
    ({ url } = await app.start());
  });

  afterAll(async () => {
    await app.stop();
    removeDir(dataDir);
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
