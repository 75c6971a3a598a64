import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineChecker, z, type CheckContext, type CheckOutcome, type Target } from 'vigil';
import { createCheckerRegistry } from '../../src/health/checker-registry.js';
import { createResourcePool } from '../../src/health/resources.js';
import { onCancel } from '../../src/health/cancel.js';
import { createRunner, LATE_GRACE_MS, type ProbeRequest } from '../../src/health/runner.js';

const target: Target = { host: '127.0.0.1', port: 9, metadata: {} };
const TIMEOUT_MS = 100;

function checkerOf(check: (ctx: CheckContext<object>) => Promise<CheckOutcome>, type = 'fake') {
  return defineChecker({ type, options: z.strictObject({}), check });
}

function request(checker: ProbeRequest['checker'], extra: Partial<ProbeRequest> = {}): ProbeRequest {
  return {
    checker,
    target,
    options: Object.freeze({}),
    timeoutMs: TIMEOUT_MS,
    resources: createResourcePool().scope(checker.type),
    ...extra,
  };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending promise callback run: one macrotask turn drains the microtask queue. */
const drain = () => new Promise((r) => setImmediate(r));

/**
 * A fake clock for the runner: its deadline timer (setTimeout) and its latency clock
 * (perf_hooks `performance.now`, which vitest's fake timers do not reach) move only when the test
 * advances them, so deadlines and lateness are asserted exactly, without waiting or timing.
 */
function useFakeClock(): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.spyOn(performance, 'now').mockImplementation(() => Date.now());
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });
}

/** Runs `req` while the fake clock moves `ms`; resolves with the runner's answer. */
async function runFor(runner: ReturnType<typeof createRunner>, req: ProbeRequest, ms: number) {
  const answer = runner.run(req);
  await vi.advanceTimersByTimeAsync(ms);
  return answer;
}

describe('runner: deadline', () => {
  useFakeClock();

  it('reports the whole budget as the latency of a timeout, even when the deadline timer fires a fraction of a millisecond early', async () => {
    // libuv's timers run on a whole-millisecond clock and performance.now() does not: a timer armed
    // at x.7 ms for 100 ms may fire when the latency clock reads only 99.8 ms later.
    let fraction = 0.7;
    const runner = createRunner({ clock: () => Date.now() + fraction });
    const answer = runner.run(request(checkerOf(() => new Promise(() => {}))));
    fraction = 0.5;
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(await answer).toMatchObject({ status: 'fail', reason: 'timeout', latencyMs: TIMEOUT_MS });
  });

  it('answers fail/timeout by the deadline when the checker ignores the signal, and counts it overdue until it settles', async () => {
    const runner = createRunner();
    const late = deferred<CheckOutcome>();
    const checker = checkerOf(() => late.promise);

    const result = await runFor(runner, request(checker), TIMEOUT_MS);

    expect(result).toMatchObject({ type: 'fake', status: 'fail', reason: 'timeout' });
    expect(result.detail).toContain(`${TIMEOUT_MS} ms`);
    expect(result.latencyMs).toBe(TIMEOUT_MS);
    expect(runner.stats).toMatchObject({ overdue: 1, late: 0 });

    // Settles well past the grace period: a checker ignoring its signal.
    await vi.advanceTimersByTimeAsync(LATE_GRACE_MS + 20);
    late.resolve({ status: 'ok', reason: 'connected' });
    await drain();
    expect(runner.stats).toMatchObject({ overdue: 0, late: 1 });
  });

  it('does not count a checker late when it settles within the grace period after the abort', async () => {
    const runner = createRunner();
    const late = deferred<CheckOutcome>();
    const result = await runFor(runner, request(checkerOf(() => late.promise)), TIMEOUT_MS);
    expect(result.reason).toBe('timeout');
    await vi.advanceTimersByTimeAsync(LATE_GRACE_MS - 1);
    late.resolve({ status: 'ok', reason: 'connected' });
    await drain();
    expect(runner.stats).toMatchObject({ overdue: 0, late: 0 });
  });

  it('does not count a checker late when it settles promptly after the abort', async () => {
    const runner = createRunner();
    const checker = checkerOf(async ({ signal }) => {
      await once(signal, 'abort');
      throw signal.reason;
    });
    const result = await runFor(runner, request(checker), TIMEOUT_MS);
    expect(result.reason).toBe('timeout');
    await drain();
    expect(runner.stats).toMatchObject({ overdue: 0, late: 0 });
  });

  it('answers by the deadline even when the checker never settles at all', async () => {
    const runner = createRunner();
    // Without the runner's own deadline this await would never end (the test would time out).
    const result = await runFor(runner, request(checkerOf(() => new Promise(() => {}))), TIMEOUT_MS);
    expect(result.reason).toBe('timeout');
    expect(runner.stats.overdue).toBe(1);
  });

  it('aborts the signal given to the checker at the deadline, with a TimeoutError', async () => {
    const runner = createRunner();
    let seen: AbortSignal | undefined;
    let abortedAt = 0;
    const t0 = performance.now();
    const checker = checkerOf(async ({ signal }) => {
      seen = signal;
      expect(signal.aborted).toBe(false);
      // A direct listener records the moment of the abort itself, not when a continuation runs.
      signal.addEventListener('abort', () => (abortedAt = performance.now() - t0), { once: true });
      await once(signal, 'abort');
      throw signal.reason;
    });

    await vi.advanceTimersByTimeAsync(0);
    const answer = runner.run(request(checker));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(seen?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const result = await answer;

    expect(seen?.aborted).toBe(true);
    expect((seen?.reason as Error).name).toBe('TimeoutError');
    expect(abortedAt).toBe(TIMEOUT_MS);
    // The deadline answer wins over the abort error the checker throws.
    expect(result).toMatchObject({ status: 'fail', reason: 'timeout', detail: `no answer within ${TIMEOUT_MS} ms` });
    await drain();
    expect(runner.stats.overdue).toBe(0);
  });

  it('clears its timer when the checker answers in time, so nothing fires later', async () => {
    const runner = createRunner();
    let signal: AbortSignal | undefined;
    const result = await runner.run(
      request(checkerOf(async (ctx) => ((signal = ctx.signal), { status: 'ok', reason: 'connected' })), { timeoutMs: 20 }),
    );
    expect(result.status).toBe('ok');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(40); // past the deadline: nothing may fire
    expect(signal?.aborted).toBe(false);
    expect(runner.stats).toMatchObject({ overdue: 0, late: 0 });
  });
});

describe('runner: error mapping', () => {
  it('maps a thrown ECONNREFUSED to fail-now refused', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const result = await createRunner().run(request(checkerOf(() => Promise.reject(refused))));
    expect(result).toMatchObject({ status: 'fail-now', reason: 'refused', detail: 'connect ECONNREFUSED 127.0.0.1:9' });
  });

  it('maps a plain thrown error to fail error with its message', async () => {
    const result = await createRunner().run(
      request(
        checkerOf(async () => {
          throw new Error('something broke');
        }),
      ),
    );
    expect(result).toMatchObject({ status: 'fail', reason: 'error', detail: 'something broke' });
  });

  it('maps a synchronous throw from a non-async check to fail error', async () => {
    const checker = checkerOf(() => {
      throw new Error('sync throw');
    });
    const result = await createRunner().run(request(checker));
    expect(result).toMatchObject({ status: 'fail', reason: 'error', detail: 'sync throw' });
  });

  it.each([
    ['undefined', undefined],
    ['a string', 'ok'],
    ['an unknown verdict', { status: 'maybe', reason: 'connected' }],
    ['no reason', { status: 'ok' }],
    ['an empty reason', { status: 'ok', reason: '' }],
  ])('answers fail checker-bug when the checker returns %s', async (_name, garbage) => {
    const checker = checkerOf(async () => garbage as unknown as CheckOutcome, 'sloppy');
    const result = await createRunner().run(request(checker));
    expect(result).toMatchObject({ type: 'sloppy', status: 'fail', reason: 'checker-bug' });
    expect(result.detail).toContain('sloppy');
  });
});

describe('runner: result and context', () => {
  it('passes the outcome through and adds type, latency and start time', async () => {
    const before = Date.now();
    const result = await createRunner().run(
      request(
        checkerOf(async () => ({ status: 'ok', reason: 'connected', detail: 'hi', facts: { role: 'primary' } }), 'rich'),
      ),
    );
    expect(result).toMatchObject({ type: 'rich', status: 'ok', reason: 'connected', detail: 'hi', facts: { role: 'primary' } });
    expect(result.startedAt).toBeGreaterThanOrEqual(before);
    expect(result.startedAt).toBeLessThanOrEqual(Date.now());
  });

  describe('latency', () => {
    useFakeClock();

    it('measures latency: a checker that waits 50 ms on a timer reports 50 ms', async () => {
      const checker = checkerOf(async () => {
        await new Promise((r) => setTimeout(r, 50)); // the checker's own wait, on the fake clock
        return { status: 'ok', reason: 'connected' };
      });
      const result = await runFor(createRunner(), request(checker, { timeoutMs: 1000 }), 50);
      expect(result.status).toBe('ok');
      expect(result.latencyMs).toBe(50);
    });
  });

  it('gives the checker the frozen options, target, budget, deadline and its resource cache', async () => {
    const fancy = defineChecker({
      type: 'fancy',
      options: z.strictObject({ path: z.string().default('/'), limits: z.strictObject({ n: z.number().default(3) }).default({ n: 3 }) }),
      async check(ctx) {
        seen = ctx;
        return { status: 'ok', reason: 'connected' };
      },
    });
    let seen: CheckContext<unknown> | undefined;
    const registry = createCheckerRegistry([fancy]);
    const options = registry.parseOptions('fancy', { path: '/health' });
    const resources = createResourcePool().scope('fancy');

    const before = performance.now();
    await createRunner().run({ checker: fancy, target, options, timeoutMs: 500, resources });
    const after = performance.now();

    expect(seen?.options).toBe(options);
    expect(seen?.options).toEqual({ path: '/health', limits: { n: 3 } });
    expect(Object.isFrozen(seen?.options)).toBe(true);
    expect(Object.isFrozen((seen?.options as { limits: object }).limits)).toBe(true);
    expect(seen?.target).toBe(target);
    expect(seen?.resources).toBe(resources);
    expect(seen?.timeoutMs).toBe(500);
    expect(seen?.deadline).toBeGreaterThanOrEqual(before + 500);
    expect(seen?.deadline).toBeLessThanOrEqual(after + 500);
  });
});

describe('runner: external abort (daemon stopping)', () => {
  it('abortAll ends every running probe at once with reason aborted and aborts the checkers', async () => {
    const runner = createRunner();
    const signals: AbortSignal[] = [];
    const checker = checkerOf(async ({ signal }) => {
      signals.push(signal);
      await once(signal, 'abort');
      throw signal.reason;
    });
    const probes = [1, 2, 3].map(() => runner.run(request(checker, { timeoutMs: 10_000 })));
    await drain();
    runner.abortAll();
    const results = await Promise.all(probes);
    // 'aborted', not 'timeout': they ended at the call, not at their 10 s deadline.
    expect(results.map((r) => r.reason)).toEqual(['aborted', 'aborted', 'aborted']);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('ends the probe with reason aborted when the external signal fires, and aborts the checker', async () => {
    const stop = new AbortController();
    const started = deferred<AbortSignal>();
    const checker = checkerOf(async ({ signal }) => {
      started.resolve(signal);
      await once(signal, 'abort');
      throw signal.reason;
    });
    const probe = createRunner().run(request(checker, { timeoutMs: 10_000, signal: stop.signal }));
    const inner = await started.promise;

    stop.abort(new Error('daemon stopping'));
    const result = await probe;

    expect(result).toMatchObject({ status: 'fail', reason: 'aborted' });
    expect(inner.aborted).toBe(true);
    expect((inner.reason as Error).message).toBe('daemon stopping');
  });

  it('answers aborted at once when the external signal is already aborted', async () => {
    const stop = new AbortController();
    stop.abort();
    const result = await createRunner().run(
      request(checkerOf(() => new Promise(() => {})), { timeoutMs: 10_000, signal: stop.signal }),
    );
    expect(result.reason).toBe('aborted');
  });

  it('removes its listener from the external signal after each probe', async () => {
    const stop = new AbortController();
    let added = 0;
    let removed = 0;
    const { signal } = stop;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => (added++, add(...args))) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => (removed++, remove(...args))) as typeof remove;

    const runner = createRunner();
    const ok = checkerOf(async () => ({ status: 'ok', reason: 'connected' }));
    for (let i = 0; i < 3; i++) await runner.run(request(ok, { signal }));
    expect(added).toBe(3);
    expect(removed).toBe(3);
  });
});

describe('runner: one timer for every probe in flight', () => {
  useFakeClock();

  it('answers each of many hanging probes at its own deadline while holding a single timer', async () => {
    const runner = createRunner();
    const hang = checkerOf(() => new Promise(() => {}));
    const answered: Array<[number, number]> = [];
    const t0 = performance.now();
    const probe = (timeoutMs: number) =>
      void runner.run(request(hang, { timeoutMs })).then((r) => answered.push([timeoutMs, performance.now() - t0 - r.latencyMs]));
    probe(100);
    await vi.advanceTimersByTimeAsync(10);
    probe(30);
    probe(100);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    // [budget, start time]: each answered exactly its budget after it started, the short one first.
    expect(answered).toEqual([
      [30, 10],
      [100, 0],
      [100, 10],
    ]);
    expect(vi.getTimerCount()).toBe(0);
    expect(runner.stats.overdue).toBe(3);
  });
});

describe('runner: a signal only for checkers that read it', () => {
  useFakeClock();

  it('makes no AbortController for a checker that never reads ctx.signal', async () => {
    const made = vi.spyOn(globalThis, 'AbortController');
    const runner = createRunner();
    const quiet = checkerOf(async () => ({ status: 'ok', reason: 'connected' }));
    const hanging = checkerOf(() => new Promise(() => {}));
    expect((await runner.run(request(quiet))).status).toBe('ok');
    expect((await runFor(runner, request(hanging), TIMEOUT_MS)).reason).toBe('timeout');
    expect(made).not.toHaveBeenCalled();
  });

  it('aborts the signal of a plugin that reads it only after an await, at its deadline', async () => {
    const runner = createRunner();
    let abortedAt = -1;
    const t0 = performance.now();
    const plugin = checkerOf(async (ctx) => {
      await new Promise((r) => setTimeout(r, 10));
      ctx.signal.addEventListener('abort', () => (abortedAt = performance.now() - t0), { once: true });
      await once(ctx.signal, 'abort');
      throw ctx.signal.reason;
    });
    const answer = runner.run(request(plugin));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(abortedAt).toBe(-1);
    await vi.advanceTimersByTimeAsync(1);
    expect((await answer).reason).toBe('timeout');
    expect(abortedAt).toBe(TIMEOUT_MS);
    await drain();
    expect(runner.stats).toMatchObject({ overdue: 0, late: 0 });
  });

  it('hands a plugin that first reads ctx.signal after its deadline an already aborted signal', async () => {
    const runner = createRunner();
    let ctx: CheckContext<object> | undefined;
    const late = checkerOf((c) => ((ctx = c), new Promise(() => {})));
    expect((await runFor(runner, request(late), TIMEOUT_MS)).reason).toBe('timeout');
    expect(ctx!.signal.aborted).toBe(true);
    expect((ctx!.signal.reason as Error).name).toBe('TimeoutError');
  });

  it('keeps the signal in a copy of the context, and leaves it unaborted after a normal answer', async () => {
    const runner = createRunner();
    let copy: CheckContext<object> | undefined;
    let ctx: CheckContext<object> | undefined;
    await runner.run(request(checkerOf(async (c) => ((ctx = c), (copy = { ...c }), { status: 'ok', reason: 'connected' }))));
    expect(copy!.signal).toBe(ctx!.signal);
    expect(copy!.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS * 2);
    expect(ctx!.signal.aborted).toBe(false);
  });
});

describe('runner: cancel hooks of built-in checkers', () => {
  useFakeClock();

  it('calls the hook at the deadline before answering, and at once when registered after it', async () => {
    const runner = createRunner();
    const calls: string[] = [];
    let ctx: CheckContext<object> | undefined;
    const builtin = checkerOf((c) => {
      ctx = c;
      return new Promise((resolve) => onCancel(c, { cancel: () => (calls.push('hook'), resolve({ status: 'fail', reason: 'timeout', detail: 'own' })) }));
    });
    const answer = runner.run(request(builtin)).then((r) => (calls.push('answer'), r));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    const result = await answer;
    expect(calls).toEqual(['hook', 'answer']);
    expect(result.detail).toBe(`no answer within ${TIMEOUT_MS} ms`); // the runner's answer, not the checker's
    let late = false;
    onCancel(ctx!, { cancel: () => (late = true) });
    expect(late).toBe(true);
  });

  it('calls the hook when the runner stops every probe', async () => {
    const runner = createRunner();
    let cancelled = 0;
    const builtin = checkerOf((c) => new Promise((resolve) => onCancel(c, { cancel: () => (cancelled++, resolve({ status: 'fail', reason: 'x' })) })));
    const answers = [runner.run(request(builtin)), runner.run(request(builtin))];
    runner.abortAll();
    expect((await Promise.all(answers)).map((r) => r.reason)).toEqual(['aborted', 'aborted']);
    expect(cancelled).toBe(2);
  });

  it('falls back to the signal for a context the runner did not make', () => {
    const controller = new AbortController();
    let cancelled = 0;
    onCancel(controller, { cancel: () => cancelled++ });
    controller.abort();
    expect(cancelled).toBe(1);
    onCancel({ signal: AbortSignal.abort() }, { cancel: () => cancelled++ });
    expect(cancelled).toBe(2);
  });
});
