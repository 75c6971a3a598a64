/**
 * An HTTP proxy on loopback that loses every other request (the 1st, 3rd, …) by destroying the
 * client's socket before forwarding, and forwards the rest: 50 % loss, deterministic, so a test
 * knows exactly what was lost. Put it in front of a node by advertising its URL instead.
 */
import { createServer, type Server } from 'node:http';
import { request } from 'undici';
import { listen } from './servers.js';

export interface DroppingProxy {
  readonly url: string;
  readonly seen: number;
  readonly dropped: number;
  close(): Promise<void>;
}

export async function startDroppingProxy(target: () => string): Promise<DroppingProxy> {
  let seen = 0;
  let dropped = 0;
  const server: Server = createServer((req, res) => {
    const n = ++seen;
    if (n % 2 === 1) {
      dropped++;
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k))) as Record<string, string>;
      request(new URL(req.url ?? '/', target()), { method: (req.method ?? 'GET') as 'POST', headers, body: Buffer.concat(chunks) }).then(
        async (up) => {
          res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
          res.end(Buffer.from(await up.body.arrayBuffer()));
        },
        () => req.socket.destroy(),
      );
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    get seen() {
      return seen;
    },
    get dropped() {
      return dropped;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
