/**
 * A TCP proxy in front of MariaDB, on loopback, for one vigil node's store connections. It passes
 * everything through until `trap(match)` is set; then the first statement (COM_QUERY) whose SQL
 * matches is held back, with everything after it on that connection, until `release()`. The
 * node has sent the statement and waits for its answer, exactly as when its packets are delayed
 * in a network or it is paused right after sending; the other connections keep working.
 *
 * It reads only the MySQL packet framing (3-byte length, sequence id, payload) and the command
 * byte; mysql2 sends plain text without compression unless told otherwise.
 */
import net from 'node:net';
import { listen } from '../helpers/servers.js';

const COM_QUERY = 0x03;

export interface TrapProxy {
  readonly port: number;
  /** SQL of the statements held so far. */
  readonly held: readonly string[];
  trap(match: (sql: string) => boolean): void;
  /** Sends what was held to the server and passes everything through again. */
  release(): void;
  close(): Promise<void>;
}

/** Splits a byte stream into whole MySQL packets; the rest waits for more bytes. */
function packets(buf: Buffer): { whole: Buffer[]; rest: Buffer } {
  const whole: Buffer[] = [];
  let at = 0;
  while (buf.length - at >= 4) {
    const len = buf.readUIntLE(at, 3);
    if (buf.length - at < 4 + len) break;
    whole.push(buf.subarray(at, at + 4 + len));
    at += 4 + len;
  }
  return { whole, rest: buf.subarray(at) };
}

export async function startTrapProxy(upstreamPort: number): Promise<TrapProxy> {
  let match: ((sql: string) => boolean) | undefined;
  const held: string[] = [];
  const frozen: Array<{ upstream: net.Socket; queue?: Buffer[] }> = [];
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    let pending: Buffer = Buffer.alloc(0);
    const conn: { upstream: net.Socket; queue?: Buffer[] } = { upstream };
    upstream.on('data', (b) => client.writable && client.write(b));
    upstream.on('close', () => client.destroy());
    // A held connection stays open towards the server after the client gives up, so what it held still arrives.
    client.on('close', () => conn.queue === undefined && upstream.end());
    client.on('data', (b) => {
      const { whole, rest } = packets(Buffer.concat([pending, b]));
      pending = rest;
      for (const p of whole) {
        if (conn.queue === undefined && match && p[4] === COM_QUERY) {
          const sql = p.subarray(5).toString('utf8');
          if (match(sql)) {
            held.push(sql);
            match = undefined;
            conn.queue = [];
            frozen.push(conn);
          }
        }
        if (conn.queue) conn.queue.push(p);
        else upstream.write(p);
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    held,
    trap(m) {
      match = m;
    },
    release() {
      match = undefined;
      for (const conn of frozen.splice(0)) {
        for (const p of conn.queue ?? []) conn.upstream.write(p);
        delete conn.queue;
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
