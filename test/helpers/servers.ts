/**
 * Real loopback servers for tests: HTTP, HTTPS, raw TCP and TLS, each on 127.0.0.1 port 0. Every
 * server counts the connections it accepted, keeps an 'error' listener on each socket (probes
 * reset connections on purpose) and destroys every socket on close().
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestServer<S extends net.Server = net.Server> {
  readonly server: S;
  readonly port: number;
  /** Connections accepted so far (TCP connections, not HTTP requests). */
  readonly connections: number;
  /** Sockets still open on the server side. */
  readonly open: ReadonlySet<net.Socket>;
  close(): Promise<void>;
}

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
}

export function listen(server: net.Server, port = 0, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

async function track<S extends net.Server>(server: S, isTls = false): Promise<TestServer<S>> {
  const open = new Set<net.Socket>();
  let connections = 0;
  // Count on 'connection' even for TLS, so a failed handshake still counts as a connection.
  server.on('connection', (socket: net.Socket) => {
    connections++;
    open.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => open.delete(socket));
  });
  // Failed handshakes (a probe with tlsVerify on hangs up) are expected, not test errors.
  if (isTls) server.on('tlsClientError', () => {});
  const port = await listen(server);
  return {
    server,
    port,
    get connections() {
      return connections;
    },
    open,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of open) socket.destroy();
      await closed;
    },
  };
}

export function startHttpServer(handler: http.RequestListener): Promise<TestServer<http.Server>> {
  return track(http.createServer(handler));
}

export function startHttpsServer(material: TlsMaterial, handler: http.RequestListener): Promise<TestServer<https.Server>> {
  return track(https.createServer({ key: material.key, cert: material.cert }, handler), true);
}

/** A raw TCP server; `onConnection` decides what each accepted socket does. */
export function startTcpServer(onConnection: (socket: net.Socket) => void = () => {}): Promise<TestServer> {
  return track(net.createServer(onConnection));
}

/** A raw TLS server; `onConnection` gets the decrypted socket (its `servername` is the SNI sent). */
export function startTlsServer(material: TlsMaterial, onConnection: (socket: tls.TLSSocket) => void = () => {}): Promise<TestServer<tls.Server>> {
  return track(tls.createServer({ key: material.key, cert: material.cert }, onConnection), true);
}

/** A port that was just listened on and closed: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function hasOpenssl(): Promise<boolean> {
  try {
    await run('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

/** A throw-away self-signed certificate for `cn` (also its DNS SAN), valid for a day. */
export async function selfSignedCert(cn = 'localhost'): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-tls-'));
  try {
    const [keyPath, certPath] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-days', '1',
      '-addext', `subjectAltName=DNS:${cn}`, '-keyout', keyPath, '-out', certPath,
    ]);
    return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
