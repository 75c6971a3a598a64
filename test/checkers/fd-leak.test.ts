/**
 * Thousands of probes against targets that flap between answering, refusing, resetting and
 * hanging, with a short timeout: afterwards the process holds no more descriptors than before and
 * no checker is still running past its deadline.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, it, vi } from 'vitest';
import http from '../../checkers/http.js';
import tcp from '../../checkers/tcp.js';
import type { Checker } from '../../src/health/contract.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool, type ResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { listen, startHttpServer } from '../helpers/servers.js';

const TIMEOUT_MS = 60;
const LANES = 12;
const PROBES = 3000;
/** A lane closes or reopens its listener every this many probes, so some probes are refused. */
const FLAP_EVERY = 9;

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=30\r\n\r\nok';
const CLOSING = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok';
const UNAVAILABLE = 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy';

/** What the target does with each request (or TCP payload), in turn. */
const BEHAVIOURS: readonly ((socket: net.Socket) => void)[] = [
  (s) => s.write(OK),
  (s) => s.resetAndDestroy(),
  () => {}, // hang: the probe times out
  (s) => s.write('HTTP/1.1 200 OK\r\nContent-Len', () => s.resetAndDestroy()),
  (s) => s.end(CLOSING),
  (s) => s.write(UNAVAILABLE),
];

const fdCount = (): number => readdirSync('/proc/self/fd').length;

/** One port whose listener comes and goes; accepted sockets cycle through BEHAVIOURS. */
function flappingTarget(port: number) {
  const sockets = new Set<net.Socket>();
  let listener: net.Server | undefined;
  let turn = 0;
  let accepted = 0;

  function onConnection(socket: net.Socket): void {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    // Every seventh connection is reset before it says anything.
    if (++accepted % 7 === 0) return void socket.resetAndDestroy();
    socket.on('data', () => BEHAVIOURS[turn++ % BEHAVIOURS.length]?.(socket));
  }

  return {
    port,
    async toggle(): Promise<void> {
      if (listener) {
        // Stop accepting (new probes are refused); established connections live on.
        listener.close();
        listener = undefined;
        return;
      }
      const next = net.createServer(onConnection);
      try {
        await listen(next, port);
        listener = next;
      } catch {
        // The port was taken meanwhile (an ephemeral client port); stay closed until the next flap.
      }
    },
    async close(): Promise<void> {
      listener?.close();
      listener = undefined;
      for (const socket of sockets) socket.destroy();
    },
  };
}

function probeRequest(checker: Checker, raw: object, port: number, pool: ResourcePool) {
  return {
    checker,
    target: { host: '127.0.0.1', port, metadata: {} },
    options: parseOptions(checker, raw),
    timeoutMs: TIMEOUT_MS,
    resources: pool.scope(checker.type),
  };
}

const KINDS: readonly [Checker, object][] = [
  [tcp, {}],
  [tcp, { send: 'PING\r\n', expect: 'OK' }],
  [http, { connection: 'keepalive' }],
  [http, { connection: 'fresh' }],
  [http, { connection: 'keepalive', bodyContains: 'ok' }],
  [http, { connection: 'fresh', method: 'HEAD' }],
];

describe('descriptor hygiene under flapping targets', () => {
  const runner = createRunner();
  let pool = createResourcePool();
  afterAll(() => pool.closeAll());

  it('returns to the baseline descriptor count after thousands of probes', async () => {
    // Warm up: the first probe of each kind loads modules and may set up lazily created runtime
    // handles; none of that is a leak, so the baseline is taken after it.
    const warm = await startHttpServer((_req, res) => res.end('ok'));
    for (const [checker, raw] of KINDS) await runner.run(probeRequest(checker, raw, warm.port, pool));
    await pool.closeAll();
    await warm.close();
    const baseline = fdCount();

    pool = createResourcePool();
    const targets = await Promise.all(
      Array.from({ length: LANES }, async () => {
        const placeholder = net.createServer();
        const port = await listen(placeholder);
        placeholder.close();
        const target = flappingTarget(port);
        await target.toggle();
        return target;
      }),
    );

    const reasons = new Map<string, number>();
    // Like the scheduler: probes of one target never overlap; targets run in parallel.
    await Promise.all(
      targets.map(async (target, lane) => {
        for (let i = lane; i < PROBES; i += LANES) {
          if (i % FLAP_EVERY === 0) await target.toggle();
          const [checker, raw] = KINDS[i % KINDS.length] ?? KINDS[0]!;
          const result = await runner.run(probeRequest(checker, raw, target.port, pool));
          const key = `${result.type}:${result.status}:${result.reason}`;
          reasons.set(key, (reasons.get(key) ?? 0) + 1);
        }
      }),
    );

    // The flapping reached every path the checkers classify.
    const seen = [...reasons.keys()].join(' ');
    for (const expected of ['tcp:ok:connected', 'tcp:ok:matched', 'tcp:fail-now:refused', 'tcp:fail:timeout', 'tcp:fail:reset']) {
      expect(seen).toContain(expected);
    }
    for (const expected of ['http:ok:responded', 'http:ok:matched', 'http:fail-now:refused', 'http:fail:timeout', 'http:fail:reset', 'http:fail:status']) {
      expect(seen).toContain(expected);
    }
    // Every outcome was classified: nothing fell through to the catch-all reasons.
    expect(seen).not.toMatch(/:(error|checker-bug)\b/);
    expect([...reasons.values()].reduce((a, b) => a + b, 0)).toBe(PROBES);

    // Every checker honoured its abort: none is still running after its deadline answer.
    await vi.waitFor(() => expect(runner.stats.overdue).toBe(0), { timeout: 1000, interval: 5 });

    await pool.closeAll();
    expect(pool.size).toBe(0);
    await Promise.all(targets.map((t) => t.close()));

    // Closing a socket releases its descriptor synchronously (libuv closes the fd in uv_close), so
    // no waiting is needed. The slack of 3 allows for descriptors the runtime opens on its own
    // after the baseline (the worker's IPC and libuv internals); a leak here would be hundreds.
    expect(fdCount()).toBeLessThanOrEqual(baseline + 3);
  });
});
