/**
 * The fresh-connection HTTP exchange on both of its transports — libuv's TCP handle (IP literals,
 * src/health/http1-raw.ts) and the `net` fallback (names, or a Node without the bindings) — against
 * real loopback servers: every case runs on both, each run is counted on the path it was meant to
 * take, and the two answers are the same outcome, reason and detail.
 */
import { readdirSync } from 'node:fs';
import type net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { classifyError } from '../../src/health/classify.js';
import type { CheckOutcome } from '../../src/health/contract.js';
import { connectOptions, exchange, exchangePaths, MAX_HEADER_BYTES, type ExchangeSpec } from '../../src/health/http1-exchange.js';
import { freshProber } from '../helpers/fresh-probe.js';
import { closedPort, hasOpenssl, selfSignedCert, startHttpsServer, startTcpServer, type TestServer } from '../helpers/servers.js';
import { startFullListener } from '../helpers/target-process.js';

const { pool, probe } = freshProber(2000);
const servers: TestServer[] = [];
afterAll(() => pool.closeAll());
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** One whole turn of the event loop: the probe's poll phase reads what was written before it. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

type After = 'end' | 'reset' | 'hang';

/**
 * A raw TCP target that answers each request with `parts`, one loop turn apart (so the probe reads
 * them separately), then ends, resets or hangs. `parts` may depend on the request's first line.
 */
async function target(parts: readonly string[] | ((requestLine: string) => readonly string[]), after: After = 'end'): Promise<TestServer> {
  const s = await startTcpServer((socket: net.Socket) =>
    socket.once('data', async (request: Buffer) => {
      const line = request.toString('latin1').split('\r\n')[0]!;
      for (const part of typeof parts === 'function' ? parts(line) : parts) {
        if (socket.destroyed) return;
        socket.write(part);
        await nextTurn();
      }
      if (after === 'end') socket.end();
      else if (after === 'reset') socket.resetAndDestroy();
    }),
  );
  servers.push(s);
  return s;
}


/**
 * Starts a probe on the given path. The runner calls the checker synchronously, which picks its
 * path there and then: the switch holds for this probe only, concurrent probes included.
 */
function probeOn(useRaw: boolean, port: number, raw: object = {}, timeoutMs = 2000) {
  const was = exchangePaths.useRaw;
  exchangePaths.useRaw = useRaw;
  try {
    return probe(port, raw, timeoutMs);
  } finally {
    exchangePaths.useRaw = was;
  }
}

/** Runs `fn` and checks how many exchanges it ran on each path. */
async function counted<T>(raw: number, net: number, fn: () => Promise<T>): Promise<T> {
  const before = { raw: exchangePaths.raw, net: exchangePaths.net };
  const result = await fn();
  expect({ raw: exchangePaths.raw - before.raw, net: exchangePaths.net - before.net }).toEqual({ raw, net });
  return result;
}

/** The same probe on both paths, each counted on its own: the answers agree, and match `expected`. */
async function bothPaths(port: number, raw: object, expected: object, timeoutMs = 2000) {
  const onRaw = await counted(1, 0, () => probeOn(true, port, raw, timeoutMs));
  const onNet = await counted(0, 1, () => probeOn(false, port, raw, timeoutMs));
  expect(onRaw).toMatchObject(expected);
  const { latencyMs: _a, startedAt: _c, ...rawOutcome } = onRaw;
  const { latencyMs: _b, startedAt: _d, ...netOutcome } = onNet;
  expect(rawOutcome).toEqual(netOutcome);
  return onRaw;
}

const HEAD_200 = 'HTTP/1.1 200 OK\r\n';

describe('fresh HTTP exchange on the TCP handle and on net: the same answers', () => {
  beforeAll(() => {
    // This Node exposes the bindings: the handle path is the default one.
    expect(exchangePaths.useRaw).toBe(true);
  });

  it('takes the handle path for an IP literal by default', async () => {
    const s = await target([`${HEAD_200}Content-Length: 2\r\n\r\nok`]);
    const before = exchangePaths.raw;
    expect(await probe(s.port)).toMatchObject({ status: 'ok', reason: 'responded', detail: 'HTTP 200 OK' });
    expect(exchangePaths.raw).toBe(before + 1);
  });

  it('decodes a chunked body split across reads, inside size lines, data and CRLFs', async () => {
    const s = await target([`${HEAD_200}Transfer-Encoding: chunked\r\n\r\n`, '5\r', '\nhel', 'lo\r\n', '6;ext=1\r\n wor', 'ld\r', '\n0\r\n', 'X-Trailer: 1\r\n\r\n'], 'hang');
    await bothPaths(s.port, { bodyContains: 'hello world' }, { status: 'ok', reason: 'matched', detail: 'HTTP 200 OK' });
    await bothPaths(s.port, { bodyContains: 'absent' }, { status: 'fail', reason: 'mismatch', detail: 'HTTP 200 OK, body did not match; read "hello world"' });
    await bothPaths(s.port, {}, { status: 'ok', reason: 'responded' });
  });

  it('fails "protocol" on a bad chunk size line', async () => {
    const s = await target([`${HEAD_200}Transfer-Encoding: chunked\r\n\r\n`, 'zz\r\n'], 'hang');
    await bothPaths(s.port, {}, { status: 'fail', reason: 'protocol', detail: 'invalid chunk size line "zz"' });
  });

  it('fails "reset" when the connection closes before the head ends, or resets in the body', async () => {
    const early = await target(['HTTP/1.1 200 OK\r\nContent-Le']);
    await bothPaths(early.port, {}, { status: 'fail', reason: 'reset', detail: 'connection closed before the response headers' });
    const mute = await target([]);
    await bothPaths(mute.port, {}, { status: 'fail', reason: 'reset', detail: 'connection closed before the response headers' });
    const cut = await target([`${HEAD_200}Content-Length: 10\r\n\r\nhalf`]);
    await bothPaths(cut.port, {}, { status: 'fail', reason: 'reset', detail: 'connection closed in the middle of the response body' });
    const reset = await target([`${HEAD_200}Content-Length: 10\r\n\r\nhalf`], 'reset');
    await bothPaths(reset.port, {}, { status: 'fail', reason: 'reset', detail: 'read ECONNRESET' });
  });

  it('reads a body until the close when the answer has no length', async () => {
    const s = await target([HEAD_200, '\r\n', 'up', ' and running']);
    await bothPaths(s.port, { bodyContains: 'running' }, { status: 'ok', reason: 'matched' });
    await bothPaths(s.port, { bodyRegex: 'and\\s+down' }, { status: 'fail', reason: 'mismatch', detail: 'HTTP 200 OK, body did not match; read "up and running"' });
  });

  it('ends slow headers at the probe deadline, and answers when they complete in time', async () => {
    const slow = await target([HEAD_200, 'X-Slow: 1\r\n', 'X-Slow: 2\r\n'], 'hang');
    const timedOut = await bothPaths(slow.port, {}, { status: 'fail', reason: 'timeout', detail: 'no answer within 300 ms' }, 300);
    expect(timedOut.latencyMs).toBeLessThanOrEqual(300);
    const done = await target(['HTTP/1.1 ', '200 Fine\r\n', 'Content-Length: 2\r\n', '\r', '\n', 'ok'], 'hang');
    await bothPaths(done.port, {}, { status: 'ok', detail: 'HTTP 200 Fine' });
  });

  it('skips interim answers, even split across reads', async () => {
    const s = await target(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Ea', 'rly Hints\r\nLink: </a>\r\n\r\n', `${HEAD_200}Content-Length: 2\r\n\r\nok`], 'hang');
    await bothPaths(s.port, {}, { status: 'ok', detail: 'HTTP 200 OK' });
  });

  it('fails "protocol" on headers over the limit without waiting for the rest', async () => {
    const s = await target([HEAD_200, `X-Big: ${'a'.repeat(MAX_HEADER_BYTES / 2)}\r\n`, `X-Big: ${'a'.repeat(MAX_HEADER_BYTES / 2)}\r\n`], 'hang');
    await bothPaths(s.port, {}, { status: 'fail', reason: 'protocol', detail: `response headers longer than ${MAX_HEADER_BYTES} bytes` }, 5000);
  });

  it('fails "protocol" at once on an answer that is not HTTP', async () => {
    const s = await target(['SSH-2.0-OpenSSH_9.6\r\n'], 'hang');
    await bothPaths(s.port, {}, { status: 'fail', reason: 'protocol', detail: 'response is not HTTP/1.x: "SSH-2.0-OpenSSH_9.6"' }, 5000);
  });

  it('ends the exchange as soon as the body rule holds, long before the body would end', async () => {
    const s = await target([`${HEAD_200}Content-Length: 1000000\r\n\r\nstatus: `, 'UP', ' and more'], 'hang');
    await bothPaths(s.port, { bodyContains: 'status: UP' }, { status: 'ok', reason: 'matched', detail: 'HTTP 200 OK' }, 5000);
    // The probe closed its side: the target's sockets are gone, not waiting for the rest of a body.
    await expect.poll(() => s.open.size, { timeout: 5000, interval: 5 }).toBe(0);
  });

  it('reads no body for 204, 304 and HEAD, whatever the headers announce', async () => {
    const noContent = await target(['HTTP/1.1 204 No Content\r\nContent-Length: 50\r\n\r\n'], 'hang');
    await bothPaths(noContent.port, {}, { status: 'ok', reason: 'responded', detail: 'HTTP 204 No Content' }, 5000);
    const notModified = await target(['HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n'], 'hang');
    await bothPaths(notModified.port, { expectStatus: [304] }, { status: 'ok', detail: 'HTTP 304 Not Modified' }, 5000);
    const head = await target([`${HEAD_200}Content-Length: 100\r\n\r\n`], 'hang');
    await bothPaths(head.port, { method: 'HEAD' }, { status: 'ok', detail: 'HTTP 200 OK' }, 5000);
  });

  it('stops at maxBodyBytes and judges what it read', async () => {
    const s = await target([`${HEAD_200}Content-Length: 100000\r\n\r\n${'x'.repeat(600)}`, `${'x'.repeat(600)}needle`], 'hang');
    await bothPaths(s.port, { maxBodyBytes: 1000 }, { status: 'ok', reason: 'responded' }, 5000);
    await bothPaths(s.port, { maxBodyBytes: 1000, bodyContains: 'needle' }, { status: 'fail', reason: 'mismatch' }, 5000);
  });

  it('judges a status outside expectStatus at the head, without reading the body', async () => {
    const s = await target(['HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1000\r\n\r\n'], 'hang');
    await bothPaths(s.port, {}, { status: 'fail', reason: 'status', detail: 'HTTP 503 Service Unavailable, expected 200-299', facts: { httpStatus: 503 } }, 5000);
  });

  it('marks a refused connection fail-now, with the address in the detail as net words it', async () => {
    const port = await closedPort();
    await bothPaths(port, {}, { status: 'fail-now', reason: 'refused', detail: `connect ECONNREFUSED 127.0.0.1:${port}` });
    await bothPaths(port, { refused: 'fail' }, { status: 'fail', reason: 'refused' });
  });

  it('keeps concurrent answers apart although every read lands in one shared buffer', async () => {
    // Each answer's head arrives in two reads, interleaved with the other probes' reads: a head
    // kept as a view of the shared buffer instead of a copy would come out as another's.
    const s = await target((line) => {
      const id = /\/id\/(\d+)/.exec(line)?.[1] ?? '?';
      return [`HTTP/1.1 200 Id-${id}-`, `${id}\r\nContent-Length: ${id.length + 3}\r\n\r\n`, `id=${id}`];
    }, 'hang');
    const ids = Array.from({ length: 120 }, (_, i) => String(1000 + i));
    const results = await counted(60, 60, () => Promise.all(ids.map((id, i) => probeOn(i % 2 === 0, s.port, { path: `/id/${id}`, bodyContains: `id=${id}` }, 5000))));
    results.forEach((r, i) => expect(r).toMatchObject({ status: 'ok', reason: 'matched', detail: `HTTP 200 Id-${ids[i]}-${ids[i]}` }));
  });

  it('leaves no descriptor open after many concurrent probes of every outcome', async () => {
    const ok = await target([`${HEAD_200}Content-Length: 2\r\n\r\nok`], 'hang');
    const cut = await target([`${HEAD_200}Content-Length: 9\r\n\r\nok`], 'reset');
    const hang = await target([HEAD_200], 'hang');
    const notHttp = await target(['nope nope\r\n'], 'hang');
    const refused = await closedPort();
    const round = (useRaw: boolean) =>
      Promise.all([
        probeOn(useRaw, ok.port, {}, 5000),
        probeOn(useRaw, ok.port, { bodyContains: 'ok' }, 5000),
        probeOn(useRaw, cut.port, {}, 5000),
        probeOn(useRaw, hang.port, {}, 100),
        probeOn(useRaw, notHttp.port, {}, 5000),
        probeOn(useRaw, refused, {}, 5000),
      ]);
    await round(true); // warm-up: lazily opened descriptors (epoll, pipes) are not leaks
    await round(false);
    const before = openFds();
    for (let i = 0; i < 5; i++) {
      const outcomes = (await counted(120, 120, () => Promise.all(Array.from({ length: 40 }, (_, j) => round(j % 2 === 0))))).flat();
      expect(new Set(outcomes.map((o) => o.reason))).toEqual(new Set(['responded', 'matched', 'reset', 'timeout', 'protocol', 'refused']));
    }
    // Closes complete on the loop's close phase: wait for it instead of sleeping.
    await new Promise((resolve) => setImmediate(resolve));
    expect(openFds()).toBeLessThanOrEqual(before);
  });
});

/** A spec as the checker builds one, with its verdicts counted: an exchange must judge exactly once. */
function countedSpec(port: number, rawFamily: 0 | 4, connectTimeoutMs = 1000) {
  const judged = { count: 0 };
  const spec: ExchangeSpec = {
    connect: connectOptions('127.0.0.1', port, 0),
    rawFamily,
    request: Buffer.from('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', 'latin1'),
    connectTimeoutMs,
    head: false,
    wantsBody: () => true,
    maxBodyBytes: 1000,
    matches: undefined,
    verdict: (statusCode): CheckOutcome => (judged.count++, { status: 'ok', reason: 'responded', detail: String(statusCode) }),
    failure: (err): CheckOutcome => (judged.count++, classifyError(err)),
  };
  return { spec, judged };
}

const later = (ms: number) => ({ deadline: performance.now() + ms });

describe('fresh HTTP exchange, cancelled', () => {
  const ABORTED = { status: 'fail', reason: 'timeout', detail: 'probe aborted' };

  it('settles once as aborted when cancelled before, during the connect or while waiting for the answer, and closes every handle', async () => {
    const hang = await target([], 'hang');
    const warm = countedSpec(hang.port, 4);
    await exchange(warm.spec, { signal: AbortSignal.abort(), ...later(5000) }); // warm-up, as below
    const before = openFds();
    for (const rawFamily of [4, 0] as const) {
      const { spec, judged } = countedSpec(hang.port, rawFamily);
      const taken = { raw: exchangePaths.raw, net: exchangePaths.net };
      const early = exchange(spec, { signal: AbortSignal.abort(), ...later(5000) });
      const connecting = new AbortController();
      const duringConnect = exchange(spec, { signal: connecting.signal, ...later(5000) });
      connecting.abort(); // the handshake completes in a later turn of the loop at the earliest
      const waiting = new AbortController();
      const accepted = once(hang.server, 'connection');
      const duringAnswer = exchange(spec, { signal: waiting.signal, ...later(5000) });
      await accepted;
      await nextTurn(); // the request is written once the connect completes on our side too
      waiting.abort();
      expect(await Promise.all([early, duringConnect, duringAnswer])).toEqual([ABORTED, ABORTED, ABORTED]);
      // A cancel after the answer changes nothing.
      connecting.abort();
      waiting.abort();
      expect(judged.count).toBe(3);
      expect({ raw: exchangePaths.raw - taken.raw, net: exchangePaths.net - taken.net }).toEqual(rawFamily === 4 ? { raw: 3, net: 0 } : { raw: 0, net: 3 });
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  it('ends a handshake that never completes at connectTimeoutMs, on both paths, and closes the handle', async () => {
    const full = await startFullListener();
    try {
      await full.hang();
      for (const rawFamily of [4, 0] as const) {
        const { spec, judged } = countedSpec(full.port, rawFamily, 50);
        const raw = rawFamily === 4 ? 1 : 0;
        expect(await counted(raw, 1 - raw, () => exchange(spec, { signal: new AbortController().signal, ...later(5000) }))).toEqual({
          status: 'fail',
          reason: 'timeout',
          detail: 'connect timed out after 50 ms',
        });
        expect(judged.count).toBe(1);
      }
    } finally {
      await full.kill();
    }
  });
});

const openssl = await hasOpenssl();

describe('fresh HTTPS', () => {
  it.runIf(openssl)('still goes through undici: neither minimal path takes it', async () => {
    const s = await startHttpsServer(await selfSignedCert(), (_req, res) => res.end('ok'));
    servers.push(s);
    const before = { raw: exchangePaths.raw, net: exchangePaths.net };
    expect(await probe(s.port, { scheme: 'https', tlsVerify: false }, 3000)).toMatchObject({ status: 'ok', reason: 'responded' });
    expect(exchangePaths).toMatchObject(before);
  });
});
