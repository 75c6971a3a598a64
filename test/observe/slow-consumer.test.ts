import { once } from 'node:events';
import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerEventsRoute } from '../../src/api/events-route.js';
import { createServer } from '../../src/api/server.js';
import { createEventHub } from '../../src/observe/event-hub.js';
import { createAuthenticator } from '../../src/security/authenticator.js';
import { createRegistry, type Registry } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import { createHealthWriter } from '../../src/registry/health-writer.js';
import { removeDir, tempDir } from '../helpers/daemon.js';
import { connectSse } from '../helpers/sse.js';

describe('a slow event stream consumer', () => {
  const dataDir = tempDir();
  const store = openSqliteStore({ dataDir, synchronous: 'normal' });
  const registry: Registry = createRegistry({ store, healthWriter: createHealthWriter({ store, logger: pino({ level: 'silent' }), batchMs: 10, maxBatch: 100 }) });
  const hub = createEventHub({ registry, now: Date.now, historySize: 100 });
  const appReady = createServer({ logger: pino({ level: 'silent' }), gate: { auth: createAuthenticator({ users: [], tokenTtlMs: 60_000, now: Date.now }), anonymousReads: true } });
  let app: Awaited<typeof appReady>;
  let dropped = 0;
  let clients = 0;
  let route: ReturnType<typeof registerEventsRoute>;
  const routeOptions = {
    hub,
    logger: pino({ level: 'silent' }),
    maxClients: 10,
    maxBufferedBytes: 256 * 1024,
    keepAliveMs: 60_000,
    onDropped: () => dropped++,
    onClients: (n: number) => (clients = n),
  };
  let url: string;

  beforeAll(async () => {
    app = await appReady;
    route = registerEventsRoute(app, routeOptions);
    hub.start();
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    route.close();
    hub.stop();
    await app.close();
    await store.close();
    removeDir(dataDir);
  });

  it('is disconnected instead of buffered for, while a reading client gets every event', async () => {
    const { port } = new URL(url);
    const stuck = net.connect(Number(port), '127.0.0.1');
    await once(stuck, 'connect');
    stuck.write('GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    stuck.pause(); // never reads: the server's buffer for it only grows
    const closed = once(stuck, 'close');
    const reader = await connectSse(`${url}/v1/events`);
    const reason = 'x'.repeat(4000);
    const total = 3000;
    for (let i = 0; i < total; i += 50) {
      // Announcing returns at once however far behind a client is: the hub never waits on a socket.
      const started = performance.now();
      for (let k = 0; k < 50; k++) registry.announce({ type: 'beat-protection', what: 'stall-compensated', reason, at: i + k, detail: { n: i + k } });
      expect(performance.now() - started).toBeLessThan(1000);
      await new Promise((r) => setImmediate(r));
    }
    expect(dropped).toBe(1);
    // Reading now drains what the kernel held, then the end of a stream the server already closed.
    stuck.resume();
    await closed;
    const last = await reader.next((e) => e.data.data.detail.n === total - 1, 20_000);
    expect(last.event).toBe('stall-compensated');
    expect(reader.events).toHaveLength(total);
    expect(clients).toBe(1);
    reader.close();
  });
});
