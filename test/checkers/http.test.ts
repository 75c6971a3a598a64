import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import http from '../../checkers/http.js';
import { isVigilError } from '../../src/errors.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import {
  closedPort,
  hasOpenssl,
  selfSignedCert,
  startHttpServer,
  startHttpsServer,
  startTcpServer,
  type TestServer,
  type TlsMaterial,
} from '../helpers/servers.js';

const runner = createRunner();
const pool = createResourcePool();
const servers: TestServer[] = [];

async function keep<T extends TestServer>(started: Promise<T>): Promise<T> {
  const s = await started;
  servers.push(s);
  return s;
}

/** Runs one probe the way the daemon does: validated options, the runner's deadline, a pool scope. */
function probe(port: number, raw: object = {}, timeoutMs = 1000) {
  return runner.run({
    checker: http,
    target: { host: '127.0.0.1', port, metadata: {} },
    options: parseOptions(http, raw),
    timeoutMs,
    resources: pool.scope('http'),
  });
}

/** Time from before the probe starts (so its deadline cannot begin before the clock does) to its end. */
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await work();
  return [value, performance.now() - started];
}

/** What the routing server last received. */
let last: { method: string; url: string; headers: IncomingHttpHeaders } | undefined;
let app: TestServer;
let other: TestServer;

beforeAll(async () => {
  other = await keep(startHttpServer((req, res) => res.end(`other ${req.headers['x-token'] ?? 'no-token'}`)));
  app = await keep(
    startHttpServer((req, res) => {
      last = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
      const url = new URL(req.url ?? '/', 'http://x');
      const status = Number(url.searchParams.get('status') ?? 200);
      switch (url.pathname) {
        case '/':
          return res.writeHead(status, { 'content-type': 'application/json' }).end('{"status": "UP", "db": "ok"}');
        case '/redirect':
          return res.writeHead(302, { location: '/' }).end('moved');
        case '/loop':
          return res.writeHead(302, { location: '/loop' }).end();
        case '/away':
          return res.writeHead(307, { location: `http://127.0.0.1:${other.port}/` }).end();
        case '/slow-headers': {
          // Answers, but only long after any probe's budget.
          const timer = setTimeout(() => res.end('late'), 10_000);
          return req.socket.once('close', () => clearTimeout(timer));
        }
        case '/slow-body':
          // Headers and the first part at once, the rest never.
          res.writeHead(200, { 'content-length': '1000' });
          return res.write('status: starting\n');
        default:
          return res.writeHead(404).end('not found');
      }
    }),
  );
});

afterAll(async () => {
  await pool.closeAll();
  await Promise.all(servers.map((s) => s.close()));
});

describe('http checker: statuses', () => {
  it('reports ok with the status as a fact when the target answers 200', async () => {
    const result = await probe(app.port);
    expect(result).toMatchObject({ type: 'http', status: 'ok', reason: 'responded', facts: { httpStatus: 200 } });
    expect(result.detail).toBe('HTTP 200 OK');
  });

  it('marks the target fail-now on an unexpected 500', async () => {
    const result = await probe(app.port, { path: '/?status=500' });
    expect(result).toMatchObject({ status: 'fail-now', reason: 'status', facts: { httpStatus: 500 } });
    expect(result.detail).toBe('HTTP 500 Internal Server Error, expected 200-299');
  });

  it('counts a 302 as fail without following it by default', async () => {
    const result = await probe(app.port, { path: '/redirect' });
    expect(result).toMatchObject({ status: 'fail', reason: 'status', facts: { httpStatus: 302 } });
    expect(last?.url).toBe('/redirect');
  });

  it('follows a redirect to a 200 when followRedirects is on', async () => {
    const result = await probe(app.port, { path: '/redirect', followRedirects: true });
    expect(result).toMatchObject({ status: 'ok', facts: { httpStatus: 200 } });
    expect(result.detail).toContain('after 1 redirect(s)');
    expect(last?.url).toBe('/');
  });

  it('stops after maxRedirects and judges the last redirect status', async () => {
    const result = await probe(app.port, { path: '/loop', followRedirects: true, maxRedirects: 2 });
    expect(result).toMatchObject({ status: 'fail', reason: 'status', facts: { httpStatus: 302 } });
    expect(result.detail).toContain('after 2 redirect(s)');
  });

  it('follows a redirect to another origin without sending it the custom headers', async () => {
    const headers = { 'x-token': 's3cret' };
    const result = await probe(app.port, { path: '/away', followRedirects: true, headers, bodyContains: 'other no-token' });
    expect(result).toMatchObject({ status: 'ok', reason: 'matched', facts: { httpStatus: 200 } });
    expect(last?.headers['x-token']).toBe('s3cret');
    // The connection to the other origin was opened for this probe only, and closed by it.
    await vi.waitFor(() => expect(other.open.size).toBe(0), { timeout: 500 });
  });

  it('reports ok on a 204 with no body', async () => {
    const result = await probe(app.port, { path: '/?status=204' });
    expect(result).toMatchObject({ status: 'ok', facts: { httpStatus: 204 } });
  });

  it('accepts statuses given as ranges, numbers or one comma-separated string', async () => {
    expect(await probe(app.port, { path: '/missing', expectStatus: '200-299,404' })).toMatchObject({ status: 'ok' });
    expect(await probe(app.port, { path: '/missing', expectStatus: [200, '400-499'] })).toMatchObject({ status: 'ok' });
    expect(await probe(app.port, { path: '/?status=503', expectStatus: '500-599' })).toMatchObject({ status: 'ok' });
    expect(await probe(app.port, { path: '/missing', expectStatus: 200 })).toMatchObject({ status: 'fail-now', reason: 'status' });
  });

  it('counts statuses listed in failStatus as fail instead of fail-now', async () => {
    expect(await probe(app.port, { path: '/?status=503' })).toMatchObject({ status: 'fail', reason: 'status' });
    expect(await probe(app.port, { path: '/?status=500', failStatus: '500-599' })).toMatchObject({ status: 'fail' });
    expect(await probe(app.port, { path: '/?status=503', failStatus: [] })).toMatchObject({ status: 'fail-now' });
  });
});

describe('http checker: request shape', () => {
  it('delivers header values that contain ":" intact', async () => {
    const headers = { authorization: 'Basic dXNlcjpwYXNz', 'x-url': 'http://a.example:8080/x?y=1:2' };
    await probe(app.port, { headers });
    expect(last?.headers).toMatchObject(headers);
  });

  it('sends the Host override', async () => {
    await probe(app.port, { host: 'svc.example:8443' });
    expect(last?.headers.host).toBe('svc.example:8443');
  });

  it('sends HEAD when asked and still judges the status', async () => {
    const result = await probe(app.port, { method: 'HEAD' });
    expect(result).toMatchObject({ status: 'ok', facts: { httpStatus: 200 } });
    expect(last?.method).toBe('HEAD');
  });

  it('sends the configured path and query', async () => {
    await probe(app.port, { path: '/?status=200&probe=1' });
    expect(last?.url).toBe('/?status=200&probe=1');
  });
});

describe('http checker: body', () => {
  it('reports ok "matched" when the body contains the text', async () => {
    expect(await probe(app.port, { bodyContains: '"UP"' })).toMatchObject({ status: 'ok', reason: 'matched' });
  });

  it('reports ok "matched" when the body matches bodyRegex', async () => {
    expect(await probe(app.port, { bodyRegex: '"status":\\s*"UP"' })).toMatchObject({ status: 'ok', reason: 'matched' });
  });

  it('reports fail "mismatch" with an excerpt when the body does not match', async () => {
    const result = await probe(app.port, { bodyRegex: '"status":\\s*"DOWN"' });
    expect(result).toMatchObject({ status: 'fail', reason: 'mismatch', facts: { httpStatus: 200 } });
    expect(result.detail).toContain(JSON.stringify('{"status": "UP", "db": "ok"}'));
  });

  it('reports fail "mismatch" when the text lies beyond maxBodyBytes', async () => {
    const result = await probe(app.port, { bodyContains: 'ok', maxBodyBytes: 10 });
    expect(result).toMatchObject({ status: 'fail', reason: 'mismatch' });
    expect(result.detail).toContain(JSON.stringify('{"status":'));
  });

  it('reports ok as soon as a slow body has shown the expected text', async () => {
    // The body never completes: an ok can only come from reading the text before the end.
    const result = await probe(app.port, { path: '/slow-body', bodyContains: 'starting' }, 500);
    expect(result).toMatchObject({ status: 'ok', reason: 'matched' });
  });

  it('fails with "timeout" at the deadline when a slow body never shows the expected text', async () => {
    const [result, ms] = await timed(() => probe(app.port, { path: '/slow-body', bodyContains: 'ready' }, 300));
    expect(result).toMatchObject({ status: 'fail', reason: 'timeout' });
    expect(ms).toBeGreaterThanOrEqual(295);
  });
});

describe('http checker: failures', () => {
  it('fails with "timeout" and answers within the budget when headers come too late', async () => {
    const [result, ms] = await timed(() => probe(app.port, { path: '/slow-headers' }, 300));
    expect(result).toMatchObject({ status: 'fail', reason: 'timeout' });
    expect(ms).toBeGreaterThanOrEqual(295);
    // The checker heard the abort and settled (speed is measured in bench/, not here).
    await vi.waitFor(() => expect(runner.stats.overdue).toBe(0), { timeout: 5000, interval: 5 });
  });

  it('fails with "timeout" when the target accepts the connection and never answers', async () => {
    const silent = await keep(startTcpServer());
    const [result, ms] = await timed(() => probe(silent.port, {}, 300));
    expect(result).toMatchObject({ status: 'fail', reason: 'timeout' });
    expect(ms).toBeGreaterThanOrEqual(295);
    expect(silent.connections).toBe(1);
  });

  it('counts a refused connection as fail, not fail-now, when refused is set to fail', async () => {
    expect(await probe(await closedPort(), { refused: 'fail' })).toMatchObject({ status: 'fail', reason: 'refused' });
  });

  it('marks the target fail-now when the connection is refused', async () => {
    expect(await probe(await closedPort())).toMatchObject({ status: 'fail-now', reason: 'refused' });
  });

  it('fails when the target answers something that is not HTTP', async () => {
    const s = await keep(startTcpServer((socket) => socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.6\r\n'))));
    const result = await probe(s.port);
    expect(result).toMatchObject({ status: 'fail', reason: 'protocol' });
    expect(result.detail).toMatch(/HTTP/);
  });

  it('fails with "reset" when the connection is reset in the middle of the headers', async () => {
    const s = await keep(
      startTcpServer((socket) => socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-', () => socket.resetAndDestroy()))),
    );
    expect(await probe(s.port)).toMatchObject({ status: 'fail', reason: 'reset' });
  });

  it('fails with "reset" when the connection is reset in the middle of the body', async () => {
    const s = await keep(
      startTcpServer((socket) =>
        socket.once('data', () =>
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => setImmediate(() => socket.resetAndDestroy())),
        ),
      ),
    );
    expect(await probe(s.port)).toMatchObject({ status: 'fail', reason: 'reset' });
  });
});

describe('http checker: connections', () => {
  const okServer = () => keep(startHttpServer((_req, res) => res.end('ok')));

  it('reuses one kept-alive connection per target across probes', async () => {
    const s = await okServer();
    for (let i = 0; i < 5; i++) expect(await probe(s.port)).toMatchObject({ status: 'ok' });
    expect(s.connections).toBe(1);
    expect(s.open.size).toBe(1);
  });

  it('opens and closes one connection per probe in fresh mode', async () => {
    const s = await okServer();
    for (let i = 0; i < 5; i++) expect(await probe(s.port, { connection: 'fresh' })).toMatchObject({ status: 'ok' });
    expect(s.connections).toBe(5);
  });

  it('replaces the kept-alive client after a connection error', async () => {
    let n = 0;
    const s = await keep(
      startTcpServer((socket) =>
        socket.on('data', () => {
          // The second request on the first connection is reset; later connections answer.
          if (++n === 2) return socket.resetAndDestroy();
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=30\r\n\r\nok');
        }),
      ),
    );
    expect(await probe(s.port)).toMatchObject({ status: 'ok' });
    expect(await probe(s.port)).toMatchObject({ status: 'fail', reason: 'reset' });
    expect(await probe(s.port)).toMatchObject({ status: 'ok' });
    expect(s.connections).toBe(2);
  });

  it('serves the next probe on the kept-alive client right after a timed-out one', async () => {
    let requests = 0;
    const s = await keep(
      startTcpServer((socket) =>
        socket.on('data', () => {
          // The first request hangs past its deadline; every later one is answered.
          if (++requests > 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }),
      ),
    );
    expect(await probe(s.port, {}, 100)).toMatchObject({ status: 'fail', reason: 'timeout' });
    // Started at once: the timed-out checker is still cleaning up (evicting) while this one runs.
    expect(await probe(s.port)).toMatchObject({ status: 'ok' });
    expect(await probe(s.port)).toMatchObject({ status: 'ok' });
  });
});

describe.runIf(await hasOpenssl())('http checker: TLS', () => {
  let material: TlsMaterial;
  let tlsServer: TestServer;
  let sni: (string | false | null)[] = [];

  beforeAll(async () => {
    material = await selfSignedCert('localhost');
    tlsServer = await keep(startHttpsServer(material, (_req, res) => res.end('secure')));
    tlsServer.server.on('secureConnection', (socket: TLSSocket) => sni.push(socket.servername));
  });

  it('marks the target fail-now "tls" when the certificate does not verify', async () => {
    const result = await probe(tlsServer.port, { scheme: 'https' });
    expect(result).toMatchObject({ status: 'fail-now', reason: 'tls' });
  });

  it('reports ok against a self-signed certificate when tlsVerify is off', async () => {
    const result = await probe(tlsServer.port, { scheme: 'https', tlsVerify: false, bodyContains: 'secure' });
    expect(result).toMatchObject({ status: 'ok', reason: 'matched' });
  });

  it('sends the servername option as SNI, even with a Host override', async () => {
    sni = [];
    await probe(tlsServer.port, { scheme: 'https', tlsVerify: false, servername: 'db.internal', connection: 'fresh' });
    await probe(tlsServer.port, { scheme: 'https', tlsVerify: false, servername: 'db.internal', host: 'www.example', connection: 'fresh' });
    expect(sni).toEqual(['db.internal', 'db.internal']);
  });

  it('sends the Host override as SNI when no servername is set', async () => {
    sni = [];
    await probe(tlsServer.port, { scheme: 'https', tlsVerify: false, host: 'www.example', connection: 'fresh' });
    expect(sni).toEqual(['www.example']);
  });

  it('fails with "reset" when plain HTTP is spoken to a TLS port', async () => {
    expect(await probe(tlsServer.port, { scheme: 'http' })).toMatchObject({ status: 'fail', reason: 'reset' });
  });

  it('marks the target fail-now "tls" when HTTPS is spoken to a plain HTTP port', async () => {
    expect(await probe(app.port, { scheme: 'https', tlsVerify: false })).toMatchObject({ status: 'fail-now', reason: 'tls' });
  });
});

describe('http checker options', () => {
  function invalid(raw: object): string | undefined {
    try {
      parseOptions(http, raw);
    } catch (err) {
      if (isVigilError(err, 'VIGIL_ERR_CHECKER_OPTION_INVALID')) return err.field;
      throw err;
    }
    return undefined;
  }

  it('rejects unknown and malformed options, naming the field', () => {
    expect(invalid({ bogus: true })).toBe('options.bogus');
    expect(invalid({ expectStatus: '200-2xx' })).toMatch(/^options\.expectStatus/);
    expect(invalid({ expectStatus: '299-200' })).toMatch(/^options\.expectStatus/);
    expect(invalid({ expectStatus: [] })).toMatch(/^options\.expectStatus/);
    expect(invalid({ connectTimeoutMs: 0 })).toBe('options.connectTimeoutMs');
    expect(invalid({ connectTimeoutMs: 1.5 })).toBe('options.connectTimeoutMs');
    expect(invalid({ bodyRegex: '(' })).toBe('options.bodyRegex');
    expect(invalid({ bodyContains: 'a', bodyRegex: 'b' })).toBe('options.bodyRegex');
    expect(invalid({ method: 'HEAD', bodyContains: 'a' })).toBe('options.method');
    expect(invalid({ method: 'POST' })).toBe('options.method');
    expect(invalid({ path: 'health' })).toBe('options.path');
    expect(invalid({ headers: { Host: 'x' } })).toBe('options.headers');
    expect(invalid({ headers: { 'x-a': 'b\r\nInjected: 1' } })).toMatch(/^options\.headers/);
    expect(invalid({ connection: 'pooled' })).toBe('options.connection');
  });

  it('fills in documented defaults', () => {
    expect(parseOptions(http, {})).toEqual({
      scheme: 'http',
      method: 'GET',
      path: '/',
      headers: {},
      expectStatus: [[200, 299]],
      failStatus: [
        [302, 302],
        [503, 503],
      ],
      refused: 'fail-now',
      maxBodyBytes: 65_536,
      followRedirects: false,
      maxRedirects: 3,
      connectTimeoutMs: 1000,
      tlsVerify: true,
      connection: 'keepalive',
    });
  });
});
