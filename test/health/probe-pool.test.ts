import { once } from 'node:events';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { builtinCheckers } from '../../checkers/index.js';
import { createCheckerRegistry, type CheckerRegistry } from '../../src/health/checker-registry.js';
import type { ProbeResult } from '../../src/health/contract.js';
import { loadPlugins } from '../../src/health/plugin-loader.js';
import { createProbePool, probeWorkers, WORKER_CRASHED, type ProbePool } from '../../src/health/probe-pool.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner, type ProbeRequest, type Runner } from '../../src/health/runner.js';
import { createCredentialStore, type CredentialStore } from '../../src/security/credentials.js';
import { ensureBuilt } from '../helpers/daemon.js';
import { closedPort, startHttpServer, startTcpServer, type TestServer } from '../helpers/servers.js';

const fixtures = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));
const PLUGINS = ['./pool-probe.mjs'];
const credentials = createCredentialStore({ db: { user: 'app', password: 'pool-secret', hosts: ['127.0.0.1'] } });
const WAIT = { timeout: 20_000, interval: 10 };

let checkers: CheckerRegistry;
const pools: ProbePool[] = [];
const servers: TestServer[] = [];

beforeAll(async () => {
  ensureBuilt(); // the worker threads run the build (plain Node cannot load src/*.ts)
  checkers = createCheckerRegistry(builtinCheckers);
  await loadPlugins(checkers, PLUGINS, fixtures);
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function pool(workers = 1, creds: CredentialStore = credentials, hangMs?: number): Promise<ProbePool> {
  const p = createProbePool({ workers, plugins: PLUGINS, baseDir: fixtures, credentials: creds, ...(hangMs === undefined ? {} : { hangMs }) });
  pools.push(p);
  p.start();
  // start() does not wait for the workers (their shards probe on this thread meanwhile); these tests are about the workers.
  await vi.waitFor(() => expect(p.stats.ready).toBe(workers), WAIT);
  return p;
}

async function tcpServer(onConnection?: (socket: net.Socket) => void): Promise<TestServer> {
  const s = await startTcpServer(onConnection);
  servers.push(s);
  return s;
}

interface Counted {
  readonly result: Promise<ProbeResult>;
  /** How many times the runner said the checker's attempt had ended. */
  settled(): number;
}

function request(type: string, port: number, raw: object, extra: Partial<ProbeRequest> = {}, host = '127.0.0.1'): ProbeRequest {
  return {
    checker: checkers.get(type),
    target: { host, port, metadata: {} },
    options: checkers.parseOptions(type, raw),
    timeoutMs: 2000,
    resources: createResourcePool().scope(type),
    ...extra,
  };
}

function counted(runner: Runner, req: ProbeRequest): Counted {
  let settled = 0;
  return { result: runner.run({ ...req, onCheckerSettled: () => settled++ }), settled: () => settled };
}

/** Strips what differs between two runs of the same probe (timing, the thread in a detail). */
const comparable = ({ status, reason, type, facts }: ProbeResult) => ({ status, reason, type, facts });

describe('probe pool: same answers as the in-process runner', () => {
  it('answers tcp and http probes (ok, refused, timeout, bad status) as the in-process runner does', async () => {
    const p = await pool(2);
    const local = createRunner({ credentials });
    const open = await tcpServer();
    const silent = await tcpServer(); // accepts, never answers
    const refused = await closedPort();
    const web = await startHttpServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      res.statusCode = req.url === '/bad' ? 500 : 200;
      res.end('ok');
    });
    servers.push(web);
    const cases: Array<[string, number, object, number]> = [
      ['tcp', open.port, {}, 2000],
      ['tcp', refused, {}, 2000],
      ['tcp', silent.port, { send: 'PING\r\n', expect: '+PONG' }, 300],
      ['http', web.port, { path: '/' }, 2000],
      ['http', web.port, { path: '/bad' }, 2000],
      ['http', web.port, { path: '/hang' }, 300],
      ['http', refused, { path: '/' }, 2000],
    ];
    for (const [type, port, raw, timeoutMs] of cases) {
      const req = request(type, port, raw, { timeoutMs });
      const [pooled, inProcess] = await Promise.all([p.runner.run(req), local.run(req)]);
      expect(comparable(pooled), `${type} ${JSON.stringify(raw)}`).toEqual(comparable(inProcess));
      expect(pooled.detail, `${type} ${JSON.stringify(raw)}`).toBe(inProcess.detail);
      expect(pooled.latencyMs).toBeLessThanOrEqual(timeoutMs);
    }
    const reasons = await Promise.all(cases.map(([type, port, raw, timeoutMs]) => p.runner.run(request(type, port, raw, { timeoutMs })).then((r) => r.reason)));
    expect(reasons).toEqual(['connected', 'refused', 'timeout', 'responded', 'status', 'timeout', 'refused']);
  });

  it('runs a thousand probes started in one turn, each exactly once, and reports every attempt ended', async () => {
    const p = await pool(1);
    const s = await tcpServer();
    const probes = Array.from({ length: 1000 }, () => counted(p.runner, request('tcp', s.port, {})));
    const results = await Promise.all(probes.map((c) => c.result));
    expect(results.every((r) => r.status === 'ok' && r.reason === 'connected' && r.type === 'tcp')).toBe(true);
    await vi.waitFor(() => expect(s.connections).toBe(1000), WAIT);
    expect(probes.map((c) => c.settled())).toEqual(probes.map(() => 1));
  });
});

describe('probe pool: plugins, credentials and the checker contract in workers', () => {
  it('runs a plugin checker on a worker thread, not the main one', async () => {
    const p = await pool(1);
    const r = await p.runner.run(request('pool-where', 1, {}));
    expect(r).toMatchObject({ status: 'ok', reason: 'ran', type: 'pool-where', facts: { mainThread: false, user: 'none' } });
    expect(r.detail).toBe(`thread ${p.threads()[0]!.threadId}`);
  });

  it('gives a named credential to an allowed host and refuses it to any other, inside the worker', async () => {
    const p = await pool(1);
    const allowed = await p.runner.run(request('pool-where', 1, { credential: 'db' }));
    expect(allowed).toMatchObject({ status: 'ok', facts: { mainThread: false, user: 'app' } });
    const other = counted(p.runner, request('pool-where', 1, { credential: 'db' }, {}, '127.0.0.2'));
    expect(await other.result).toMatchObject({ status: 'fail-now', reason: 'credential-host', type: 'pool-where' });
    expect(JSON.stringify(await other.result)).not.toContain('pool-secret');
    // No attempt was started, so none is left running: the scheduler may probe this target again.
    await vi.waitFor(() => expect(other.settled()).toBe(1), WAIT);
  });

  it('passes ctx.wake back to the main thread', async () => {
    const p = await pool(1);
    let woken = 0;
    const wake = (): void => void woken++;
    await p.runner.run(request('pool-where', 1, { wake: true }, { wake }));
    await vi.waitFor(() => expect(woken).toBe(1), WAIT);
  });

  it('answers a checker that ignores its signal at the deadline and reports its end once, when it comes', async () => {
    const p = await pool(1);
    const c = counted(p.runner, request('pool-deaf', 1, { holdMs: 400 }, { timeoutMs: 50 }));
    expect(await c.result).toMatchObject({ status: 'fail', reason: 'timeout', latencyMs: 50 });
    expect(c.settled()).toBe(0);
    await vi.waitFor(() => expect(p.runner.stats.overdue).toBe(1), WAIT);
    await vi.waitFor(() => expect(c.settled()).toBe(1), WAIT);
    await vi.waitFor(() => expect(p.runner.stats.overdue).toBe(0), WAIT);
  });

  it('runs a checker type the workers did not load in-process', async () => {
    const p = await pool(1);
    const extra = createCheckerRegistry();
    const { defineChecker, z } = await import('vigil');
    const here = extra.add(defineChecker({ type: 'added-by-code', options: z.strictObject({}), check: async () => ({ status: 'ok', reason: 'here' }) }), 'test');
    const r = await p.runner.run({ ...request('tcp', 1, {}), checker: here, options: Object.freeze({}) });
    expect(r).toMatchObject({ status: 'ok', reason: 'here', type: 'added-by-code' });
  });
});

describe('probe pool: a worker that dies', () => {
  /** Starts `n` tcp probes that hold their connection open (the target never answers) and waits until the target has them all. */
  async function holding(p: ProbePool, n: number): Promise<{ server: TestServer; probes: Counted[] }> {
    const server = await tcpServer();
    const probes = Array.from({ length: n }, () => counted(p.runner, request('tcp', server.port, { send: 'x', expect: 'never' }, { timeoutMs: 15_000 })));
    await vi.waitFor(() => expect(server.connections).toBe(n), WAIT);
    return { server, probes };
  }

  async function expectAllCrashedOnce(probes: readonly Counted[]): Promise<void> {
    const results = await Promise.all(probes.map((c) => c.result));
    expect(results.map((r) => [r.status, r.reason])).toEqual(results.map(() => ['fail', WORKER_CRASHED]));
    await vi.waitFor(() => expect(probes.map((c) => c.settled())).toEqual(probes.map(() => 1)), WAIT);
  }

  /** The shard runs again on a new worker: a later probe reaches its target exactly once. */
  async function expectResumed(p: ProbePool, server: TestServer, before: number): Promise<void> {
    const next = await p.runner.run(request('tcp', server.port, {}));
    expect(next).toMatchObject({ status: 'ok', reason: 'connected' });
    await vi.waitFor(() => expect(server.connections).toBe(before + 1), WAIT);
  }

  it('is replaced when terminated mid-batch; each of its probes is answered worker-crashed once and none is run again', async () => {
    const p = await pool(1);
    const { server, probes } = await holding(p, 20);
    const old = p.threads()[0]!;
    await old.terminate();
    await expectAllCrashedOnce(probes);
    await vi.waitFor(() => expect(p.threads()[0]).toBeDefined(), WAIT);
    expect(p.threads()[0]).not.toBe(old);
    expect(p.stats).toMatchObject({ restarts: 1, crashed: 20 });
    expect(server.connections).toBe(20); // no probe of the dead worker was started again
    await expectResumed(p, server, 20);
  });

  for (const how of ['exit', 'throw'] as const) {
    it(`is replaced when a plugin ${how === 'exit' ? 'calls process.exit' : 'throws uncaught'} in it, and answers the probes it held`, async () => {
      const p = await pool(1);
      const { server, probes } = await holding(p, 5);
      const killer = counted(p.runner, request('pool-crash', 1, { how }));
      await expectAllCrashedOnce([...probes, killer]);
      await vi.waitFor(() => expect(p.stats.restarts).toBe(1), WAIT);
      expect(server.connections).toBe(5);
      await expectResumed(p, server, 5);
    });
  }

  it('is ended and replaced when a checker blocks its thread, and answers the probes it held', async () => {
    const p = await pool(1, credentials, 1000);
    const { server, probes } = await holding(p, 5);
    const blocker = counted(p.runner, request('pool-crash', 1, { how: 'block' }));
    await expectAllCrashedOnce([...probes, blocker]);
    expect((await blocker.result).detail).toMatch(/silent/);
    await vi.waitFor(() => expect(p.stats.restarts).toBe(1), WAIT);
    await expectResumed(p, server, 5);
  });

  it('keeps its shard on one worker: probes of one target all go to the same thread', async () => {
    const p = await pool(2);
    const where = await Promise.all(Array.from({ length: 10 }, () => p.runner.run(request('pool-where', 7, {}))));
    expect(new Set(where.map((r) => r.detail)).size).toBe(1);
    const spread = await Promise.all(Array.from({ length: 64 }, (_, i) => p.runner.run(request('pool-where', 1000 + i, {}))));
    expect(new Set(spread.map((r) => r.detail)).size).toBe(2);
  });
});

describe('probe pool: stopping', () => {
  it('answers running probes aborted and ends its threads', async () => {
    const p = await pool(2);
    const server = await tcpServer();
    const probes = Array.from({ length: 10 }, () => counted(p.runner, request('tcp', server.port, { send: 'x', expect: 'never' }, { timeoutMs: 15_000 })));
    await vi.waitFor(() => expect(server.connections).toBe(10), WAIT);
    const threads = p.threads();
    const exits = threads.map((t) => once(t, 'exit'));
    await p.stop();
    await Promise.all(exits);
    expect(p.threads()).toEqual([]);
    const results = await Promise.all(probes.map((c) => c.result));
    expect(results.every((r) => r.reason === 'aborted')).toBe(true);
    expect(probes.map((c) => c.settled())).toEqual(probes.map(() => 1));
    expect(p.stats.restarts).toBe(0);
    expect(await p.runner.run(request('tcp', server.port, {}))).toMatchObject({ reason: 'aborted' });
  });
});

describe('checks.workers', () => {
  it('auto means one worker per core but the main thread, and none on one core', () => {
    expect(probeWorkers('auto', 2)).toBe(2);
    expect(probeWorkers('auto', 3)).toBe(3);
    expect(probeWorkers('auto', 8)).toBe(4);
    expect(probeWorkers('auto', 1)).toBe(0);
    expect(probeWorkers(0, 8)).toBe(0);
    expect(probeWorkers(3, 2)).toBe(3);
  });
});

afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});
