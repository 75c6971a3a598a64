// The probe pool's start: it returns at once, and until a worker has loaded its checkers the
// probes of that worker's shard run on the main thread. The workers here are the gated fixture
// (test/fixtures/workers/gated-worker.mjs): each waits for this test to tell it to load or fail.
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { builtinCheckers } from '../../checkers/index.js';
import { createCheckerRegistry, type CheckerRegistry } from '../../src/health/checker-registry.js';
import type { ProbeResult } from '../../src/health/contract.js';
import { loadPlugins } from '../../src/health/plugin-loader.js';
import { createProbePool, MAX_RESTART_DELAY_MS, RESTART_DELAY_MS, restartDelayMs, type ProbePool, type ProbePoolOptions } from '../../src/health/probe-pool.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner, type ProbeRequest } from '../../src/health/runner.js';
import { createCredentialStore } from '../../src/security/credentials.js';
import { ensureBuilt } from '../helpers/daemon.js';
import { closedPort, startTcpServer, type TestServer } from '../helpers/servers.js';

const fixtures = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));
const PLUGINS = ['./pool-probe.mjs'];
const GATED_WORKER = new URL('../fixtures/workers/gated-worker.mjs', import.meta.url);
const credentials = createCredentialStore({});
const WAIT = { timeout: 20_000, interval: 10 };
/** pool-where targets 1000…1063 fall in both shards of a two-worker pool (probe-pool.test.ts shows it). */
const SPREAD = Array.from({ length: 64 }, (_, i) => 1000 + i);

let checkers: CheckerRegistry;
const pools: ProbePool[] = [];
const servers: TestServer[] = [];
const gates: Gate[] = [];
/** A worker failing or ended while starting must never leave a rejected promise nobody handles. */
let rejections: unknown[] = [];
const onRejection = (reason: unknown): void => void rejections.push(reason);

beforeAll(async () => {
  ensureBuilt(); // the gated worker loads the built probe worker
  checkers = createCheckerRegistry(builtinCheckers);
  await loadPlugins(checkers, PLUGINS, fixtures);
});

beforeEach(() => {
  rejections = [];
  process.on('unhandledRejection', onRejection);
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const g of gates.splice(0)) g.close();
  await new Promise(setImmediate); // one more turn: Node reports an unhandled rejection after the microtasks
  process.off('unhandledRejection', onRejection);
  expect(rejections).toEqual([]);
});

/** This test's end of the gated workers' channel. */
interface Gate {
  /** Thread ids of the gated workers that announced themselves, in order. */
  readonly waiting: number[];
  tell(thread: number, then: 'load' | 'throw'): void;
  close(): void;
}

function openGate(): Gate {
  const channel = new BroadcastChannel('vigil-test-probe-worker-gate');
  const waiting: number[] = [];
  channel.onmessage = (event) => {
    const data = (event as { data: { waiting?: number } }).data;
    if (typeof data.waiting === 'number') waiting.push(data.waiting);
  };
  const gate = { waiting, tell: (thread: number, then: 'load' | 'throw') => channel.postMessage({ threadId: thread, then }), close: () => channel.close() };
  gates.push(gate);
  return gate;
}

/** What the pool logged at warn and above, parsed. */
function logLines(): { logger: pino.Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

function pool(workers: number, extra: Partial<ProbePoolOptions> = {}): ProbePool {
  const p = createProbePool({ workers, plugins: PLUGINS, baseDir: fixtures, credentials, workerScript: GATED_WORKER, ...extra });
  pools.push(p);
  return p;
}

function request(type: string, port: number, raw: object = {}, timeoutMs = 2000): ProbeRequest {
  return { checker: checkers.get(type), target: { host: '127.0.0.1', port, metadata: {} }, options: checkers.parseOptions(type, raw), timeoutMs, resources: createResourcePool().scope(type) };
}

/** The threads that ran one pool-where probe per SPREAD target (every probe must be answered). */
async function threadsThatRan(p: ProbePool): Promise<Set<string>> {
  const results = await Promise.all(SPREAD.map((port) => p.runner.run(request('pool-where', port))));
  expect(results.every((r) => r.status === 'ok' && r.reason === 'ran')).toBe(true);
  return new Set(results.map((r) => r.detail ?? ''));
}

async function tcpServer(): Promise<TestServer> {
  const s = await startTcpServer();
  servers.push(s);
  return s;
}

const comparable = ({ status, reason, type }: ProbeResult) => ({ status, reason, type });

describe('probe pool start: nothing waits for the workers', () => {
  it('returns from start at once and answers every probe on the main thread, correctly, while no worker gets ready', async () => {
    const gate = openGate();
    const p = pool(2);
    expect(p.start()).toBeUndefined();
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(2), WAIT); // both threads are up and stuck
    const open = await tcpServer();
    const refused = await closedPort();
    const local = createRunner({ credentials });
    for (const [port, raw, timeoutMs] of [[open.port, {}, 2000], [refused, {}, 2000], [open.port, { send: 'x', expect: 'never' }, 200]] as const) {
      const req = request('tcp', port, raw, timeoutMs);
      const [pooled, inProcess] = await Promise.all([p.runner.run(req), local.run(req)]);
      expect(comparable(pooled)).toEqual(comparable(inProcess));
    }
    expect(await threadsThatRan(p)).toEqual(new Set([`thread ${threadId}`]));
    expect(p.stats).toMatchObject({ workers: 2, ready: 0, restarts: 0 });
  });

  it('sends a shard to its worker once that one is ready, and runs the other shard on the main thread until its worker is', async () => {
    const gate = openGate();
    const p = pool(2);
    p.start();
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(2), WAIT);
    const [first, second] = gate.waiting as [number, number];
    gate.tell(first, 'load');
    // Probed until the first worker takes its shard; every round must be answered in full, the other shard's probes too.
    const ran = await vi.waitFor(async () => {
      const threads = await threadsThatRan(p);
      expect(threads).toContain(`thread ${first}`);
      return threads;
    }, WAIT);
    expect(ran).toEqual(new Set([`thread ${first}`, `thread ${threadId}`]));
    expect(p.stats.ready).toBe(1);
    gate.tell(second, 'load');
    await vi.waitFor(() => expect(p.stats.ready).toBe(2), WAIT);
    expect(await threadsThatRan(p)).toEqual(new Set([`thread ${first}`, `thread ${second}`]));
  });
});

describe('probe pool start: a worker that fails while starting', () => {
  it('is logged, counted and started again like one that crashed, and its shard probes on the main thread meanwhile', async () => {
    const gate = openGate();
    const { logger, lines } = logLines();
    const p = pool(1, { logger });
    p.start();
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(1), WAIT);
    gate.tell(gate.waiting[0]!, 'throw');
    // Its successor comes after RESTART_DELAY_MS, not in a tight loop.
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(2), { ...WAIT, timeout: 20_000 + RESTART_DELAY_MS });
    expect(p.stats).toMatchObject({ restarts: 1, crashed: 0 });
    expect(lines.map((l) => l.msg)).toEqual(['probe worker threw', 'probe worker ended; starting a new one']);
    expect(lines[0]!.err.message).toContain('told to fail while starting');
    expect(await threadsThatRan(p)).toEqual(new Set([`thread ${threadId}`]));
    expect(p.stats.ready).toBe(0);

    expect(lines[1]!.retryInMs).toBe(RESTART_DELAY_MS);

    const successor = gate.waiting[1]!;
    gate.tell(successor, 'load');
    await vi.waitFor(() => expect(p.stats.ready).toBe(1), WAIT);
    expect(await threadsThatRan(p)).toEqual(new Set([`thread ${successor}`]));

    // A worker that got ready ends the run of failed starts: the next failure waits the first delay again.
    await p.threads()[0]!.terminate();
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(3), WAIT);
    gate.tell(gate.waiting[2]!, 'throw');
    await vi.waitFor(() => expect(lines.filter((l) => l.retryInMs !== undefined)).toHaveLength(2), WAIT);
    expect(lines.filter((l) => l.retryInMs !== undefined).map((l) => l.retryInMs)).toEqual([RESTART_DELAY_MS, RESTART_DELAY_MS]);
  });

  it('waits twice as long after each start that fails in a row, up to MAX_RESTART_DELAY_MS', () => {
    expect([1, 2, 3, 4, 6, 7, 50].map(restartDelayMs)).toEqual([1000, 2000, 4000, 8000, 32_000, MAX_RESTART_DELAY_MS, MAX_RESTART_DELAY_MS]);
    expect(MAX_RESTART_DELAY_MS).toBe(60_000);
  });

  it('gives the shard of a worker that crashed after it was ready to its replacement, waiting for it to load, never to the main thread', async () => {
    const gate = openGate();
    const p = pool(1);
    p.start();
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(1), WAIT);
    gate.tell(gate.waiting[0]!, 'load');
    await vi.waitFor(() => expect(p.stats.ready).toBe(1), WAIT);
    await p.threads()[0]!.terminate();
    // The replacement is up and waiting at the gate: certainly not ready.
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(2), WAIT);
    const replacement = gate.waiting[1]!;
    let answered = false;
    const probe = p.runner.run(request('pool-where', 1)).finally(() => (answered = true));
    await new Promise(setImmediate); // a probe run here would be answered by now
    expect(answered).toBe(false);
    gate.tell(replacement, 'load');
    expect(await probe).toMatchObject({ status: 'ok', detail: `thread ${replacement}`, facts: { mainThread: false } });
    expect(p.stats).toMatchObject({ ready: 1, restarts: 1 });
  });

  it('logs VIGIL_ERR_PLUGIN_LOAD naming a plugin the worker cannot load, is started again and counted, and probes still run', async () => {
    const { logger, lines } = logLines();
    // The real worker; the main thread (this test) never loaded this plugin, as a plugin that loads only off a worker thread would.
    const p = createProbePool({ workers: 1, plugins: ['./does-not-exist.mjs'], baseDir: fixtures, credentials, logger });
    pools.push(p);
    p.start();
    // It keeps failing: started again after 1 s, then after 2 s (not every second forever).
    await vi.waitFor(() => expect(p.stats.restarts).toBe(2), { ...WAIT, timeout: 20_000 + RESTART_DELAY_MS });
    expect(lines.filter((l) => l.msg === 'probe worker ended; starting a new one').map((l) => l.retryInMs)).toEqual([RESTART_DELAY_MS, 2 * RESTART_DELAY_MS]);
    const failed = lines.find((l) => l.err?.code === 'VIGIL_ERR_PLUGIN_LOAD');
    expect(failed?.err.message ?? 'not logged').toContain('does-not-exist.mjs');
    const open = await tcpServer();
    expect(await p.runner.run(request('tcp', open.port))).toMatchObject({ status: 'ok', reason: 'connected' });
    expect(p.stats.ready).toBe(0);
  });
});

describe('probe pool start: stopped before its workers are ready', () => {
  for (const when of ['at once', 'while the threads wait'] as const) {
    it(`ends every thread when stopped ${when}`, async () => {
      const gate = openGate();
      const p = pool(2);
      p.start();
      if (when === 'while the threads wait') await vi.waitFor(() => expect(gate.waiting).toHaveLength(2), WAIT);
      const threads = p.threads();
      expect(threads).toHaveLength(2);
      const exits = threads.map((t) => once(t, 'exit'));
      await p.stop();
      await Promise.all(exits);
      expect(p.threads()).toEqual([]);
      expect(p.stats.restarts).toBe(0);
    });
  }
});

describe('probe pool start, lazy (the daemon)', () => {
  it('starts no thread until its shard gets a probe, then only that shard\'s, and answers meanwhile on the main thread', async () => {
    const gate = openGate();
    const p = pool(2, { lazy: true });
    p.start();
    expect(p.threads()).toHaveLength(0);
    // One target: its probe is answered here and starts its shard's worker, and only that one.
    const first = await p.runner.run(request('pool-where', SPREAD[0]!));
    expect(first).toMatchObject({ status: 'ok', reason: 'ran', detail: `thread ${threadId}` });
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(1), WAIT);
    expect(p.threads()).toHaveLength(1);
    gate.tell(gate.waiting[0]!, 'load');
    await vi.waitFor(() => expect(p.stats.ready).toBe(1), WAIT);
    // Every target: the other shard starts its worker too; all answered, from both threads' sides.
    expect((await threadsThatRan(p)).size).toBe(2);
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(2), WAIT);
    expect(p.threads()).toHaveLength(2);
  });

  it('with `needed`, runs every probe on the main thread and starts no thread until it says so', async () => {
    const gate = openGate();
    let needed = false;
    const p = pool(2, { lazy: true, needed: () => needed });
    p.start();
    expect(await threadsThatRan(p)).toEqual(new Set([`thread ${threadId}`]));
    expect(await threadsThatRan(p)).toEqual(new Set([`thread ${threadId}`]));
    expect(p.threads()).toHaveLength(0);
    needed = true;
    expect(await p.runner.run(request('pool-where', SPREAD[0]!))).toMatchObject({ detail: `thread ${threadId}` });
    await vi.waitFor(() => expect(gate.waiting).toHaveLength(1), WAIT);
    gate.tell(gate.waiting[0]!, 'load');
    await vi.waitFor(() => expect(p.stats.ready).toBe(1), WAIT);
    expect((await threadsThatRan(p)).size).toBe(2);
  });
});
