/**
 * The http checker's minimal HTTP/1.1 path (`connection: 'fresh'` over plain HTTP, no redirects:
 * src/health/http1-exchange.ts) against real loopback servers: Node's http server for the common
 * cases, raw TCP servers for the framings and faults a real server can produce.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type net from 'node:net';
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_HEADER_BYTES } from '../../src/health/http1-exchange.js';
import { freshProber } from '../helpers/fresh-probe.js';
import { closedPort, hasOpenssl, selfSignedCert, startHttpServer, startHttpsServer, startTcpServer, type TestServer } from '../helpers/servers.js';

const { pool, probe } = freshProber(1000);
const servers: TestServer[] = [];

async function keep<T extends TestServer>(started: Promise<T>): Promise<T> {
  const s = await started;
  servers.push(s);
  return s;
}

afterAll(async () => {
  await pool.closeAll();
  await Promise.all(servers.map((s) => s.close()));
});


/** A raw TCP target that answers the first request bytes with `reply` (written in the given parts, one turn apart), then acts as `after` says. */
function rawServer(parts: readonly string[], after: 'end' | 'reset' | 'hang' = 'end') {
  return keep(
    startTcpServer((socket: net.Socket) =>
      socket.once('data', async () => {
        for (const part of parts) {
          await new Promise<void>((resolve) => socket.write(part, () => setImmediate(resolve)));
        }
        if (after === 'end') socket.end();
        else if (after === 'reset') socket.resetAndDestroy();
      }),
    ),
  );
}

describe('http checker, minimal fresh-connection path: requests and statuses', () => {
  let last: { method: string; url: string; headers: IncomingHttpHeaders } | undefined;
  const app = () =>
    keep(
      startHttpServer((req, res) => {
        last = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
        const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 204 ? undefined : '{"status": "UP"}');
      }),
    );

  it('sends one request with the path, the Host, the user agent and the custom headers, and closes the connection', async () => {
    const s = await app();
    const result = await probe(s.port, { path: '/health?x=1', headers: { 'X-Token': 'a:b' } });
    expect(result).toMatchObject({ status: 'ok', reason: 'responded', detail: 'HTTP 200 OK', facts: { httpStatus: 200 } });
    expect(last).toMatchObject({ method: 'GET', url: '/health?x=1', headers: { host: `127.0.0.1:${s.port}`, 'user-agent': 'vigil-health-check', 'x-token': 'a:b', connection: 'close' } });
    expect(await probe(s.port, { host: 'svc.example' })).toMatchObject({ status: 'ok' });
    expect(last?.headers.host).toBe('svc.example');
    expect(s.connections).toBe(2);
  });

  it('judges statuses like the undici path: fail-now, failStatus, 204 without a body, HEAD', async () => {
    const s = await app();
    expect(await probe(s.port, { path: '/?status=500' })).toMatchObject({ status: 'fail-now', reason: 'status', detail: 'HTTP 500 Internal Server Error, expected 200-299' });
    expect(await probe(s.port, { path: '/?status=503' })).toMatchObject({ status: 'fail', reason: 'status' });
    expect(await probe(s.port, { path: '/?status=204' })).toMatchObject({ status: 'ok', facts: { httpStatus: 204 } });
    expect(await probe(s.port, { method: 'HEAD' })).toMatchObject({ status: 'ok' });
    expect(last?.method).toBe('HEAD');
  });

  it('matches the body text, and reports a mismatch with an excerpt', async () => {
    const s = await app();
    expect(await probe(s.port, { bodyContains: '"UP"' })).toMatchObject({ status: 'ok', reason: 'matched' });
    expect(await probe(s.port, { bodyRegex: 'status.:\\s*.UP' })).toMatchObject({ status: 'ok', reason: 'matched' });
    const miss = await probe(s.port, { bodyContains: 'DOWN' });
    expect(miss).toMatchObject({ status: 'fail', reason: 'mismatch' });
    expect(miss.detail).toContain('{\\"status\\": \\"UP\\"}');
  });

  it('marks a refused connection fail-now, or fail when refused is set to fail', async () => {
    const port = await closedPort();
    expect(await probe(port)).toMatchObject({ status: 'fail-now', reason: 'refused' });
    expect(await probe(port, { refused: 'fail' })).toMatchObject({ status: 'fail', reason: 'refused' });
  });
});

describe('http checker, minimal fresh-connection path: framing and faults', () => {
  it('decodes a chunked body split across writes, chunk extensions and trailers included', async () => {
    const s = await rawServer([
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      '5;ext=1\r\nstat',
      'u\r\n',
      '9\r\ns: UP ok!\r\n0\r\nX-Trailer: 1\r\n\r\n',
    ], 'hang');
    expect(await probe(s.port, { bodyContains: 'status: UP' })).toMatchObject({ status: 'ok', reason: 'matched' });
    const whole = await rawServer(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n'], 'hang');
    // The terminating chunk ends the exchange; the server never closes.
    expect(await probe(whole.port)).toMatchObject({ status: 'ok', reason: 'responded' });
    expect(await probe(whole.port, { bodyContains: 'zzz' })).toMatchObject({ status: 'fail', reason: 'mismatch', detail: expect.stringContaining('"abcd"') });
  });

  it('fails "protocol" on a malformed chunk size', async () => {
    const s = await rawServer(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n'], 'hang');
    expect(await probe(s.port)).toMatchObject({ status: 'fail', reason: 'protocol' });
  });

  it('reads a body without framing up to the close', async () => {
    const s = await rawServer(['HTTP/1.0 200 OK\r\n\r\nall ', 'of it UP']);
    expect(await probe(s.port, { bodyContains: 'it UP' })).toMatchObject({ status: 'ok', reason: 'matched', detail: 'HTTP 200 OK' });
  });

  it('skips an interim 100 Continue and judges the final answer', async () => {
    const s = await rawServer(['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n'], 'hang');
    expect(await probe(s.port)).toMatchObject({ status: 'fail', reason: 'status', detail: 'HTTP 503 Busy, expected 200-299' });
  });

  it('fails "reset" when the connection closes before the headers are complete', async () => {
    const s = await rawServer(['HTTP/1.1 200 OK\r\nContent-']);
    expect(await probe(s.port)).toMatchObject({ status: 'fail', reason: 'reset', detail: 'connection closed before the response headers' });
    const silent = await rawServer([]);
    expect(await probe(silent.port)).toMatchObject({ status: 'fail', reason: 'reset' });
  });

  it('fails "reset" when the connection closes or resets before Content-Length bytes came', async () => {
    const closed = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial']);
    expect(await probe(closed.port)).toMatchObject({ status: 'fail', reason: 'reset', detail: 'connection closed in the middle of the response body' });
    const reset = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'], 'reset');
    expect(await probe(reset.port)).toMatchObject({ status: 'fail', reason: 'reset' });
  });

  it('fails "timeout" within its budget when the headers come slowly and never complete', async () => {
    const s = await rawServer(['HTTP/1.1 200 OK\r\n', 'X-Slow: 1\r\n'], 'hang');
    const result = await probe(s.port, {}, 300);
    expect(result).toMatchObject({ status: 'fail', reason: 'timeout' });
    expect(result.latencyMs).toBeLessThanOrEqual(300);
  });

  it('answers ok once slow headers do complete within the budget', async () => {
    const s = await rawServer(['HTTP/1.1 ', '200 OK\r\n', 'Content-Length: 2\r\n', '\r\n', 'ok'], 'hang');
    expect(await probe(s.port, {}, 2000)).toMatchObject({ status: 'ok', detail: 'HTTP 200 OK' });
  });

  it('fails "protocol" on response headers larger than the limit, without waiting for the rest', async () => {
    const s = await rawServer(['HTTP/1.1 200 OK\r\n', `X-Big: ${'a'.repeat(MAX_HEADER_BYTES)}\r\n`], 'hang');
    expect(await probe(s.port, {}, 2000)).toMatchObject({ status: 'fail', reason: 'protocol', detail: `response headers longer than ${MAX_HEADER_BYTES} bytes` });
  });

  it('fails "protocol" at once when the target answers something that is not HTTP', async () => {
    const s = await rawServer(['SSH-2.0-OpenSSH_9.6\r\n'], 'hang');
    const result = await probe(s.port, {}, 2000);
    expect(result).toMatchObject({ status: 'fail', reason: 'protocol' });
    expect(result.detail).toMatch(/HTTP/);
  });

  it('stops reading at maxBodyBytes', async () => {
    const s = await rawServer([`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(2000)}`, 'needle'], 'hang');
    expect(await probe(s.port, { maxBodyBytes: 1000 })).toMatchObject({ status: 'ok', reason: 'responded' });
    expect(await probe(s.port, { maxBodyBytes: 1000, bodyContains: 'needle' })).toMatchObject({ status: 'fail', reason: 'mismatch' });
  });

  it('leaves no descriptor open whatever the outcome', async () => {
    const ok = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'], 'hang');
    const cut = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok'], 'reset');
    const refused = await closedPort();
    await probe(ok.port);
    const before = readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 200; i++) await Promise.all([probe(ok.port), probe(cut.port), probe(refused)]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(before);
  });
});

const openssl = await hasOpenssl();

describe('http checker, fresh connection outside the minimal path', () => {
  it.runIf(openssl)('HTTPS falls back to the full client and still opens a connection per probe', async () => {
    const s = await keep(startHttpsServer(await selfSignedCert(), (_req, res) => res.end('ok')));
    for (let i = 0; i < 3; i++) expect(await probe(s.port, { scheme: 'https', tlsVerify: false }, 3000)).toMatchObject({ status: 'ok', reason: 'responded' });
    expect(s.connections).toBe(3);
  });

  it('redirects are followed by the full client', async () => {
    const s = await keep(
      startHttpServer((req, res) => (req.url === '/' ? res.writeHead(302, { location: '/there' }).end() : res.end('there'))),
    );
    expect(await probe(s.port, { followRedirects: true, bodyContains: 'there' })).toMatchObject({ status: 'ok', reason: 'matched', detail: 'HTTP 200 OK after 1 redirect(s)' });
  });
});
