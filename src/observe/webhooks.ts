/**
 * Webhook delivery: every configured endpoint gets the hub's events as signed JSON POSTs. Events of
 * one instance are delivered in order (one queue per instance, one request at a time), different
 * instances in parallel up to a small cap. A failed attempt (network error, timeout, non-2xx) is
 * retried with exponential backoff up to `maxAttempts`; a queue past `maxQueue` drops new events.
 * Enqueueing is O(1) and synchronous, so a dead endpoint costs memory up to the cap, never probe time.
 * Queues live in memory: events not yet delivered when the daemon stops are lost (logged).
 */
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { WebhookEndpoint } from './webhook-config.js';
import type { EventHub, VigilEvent } from './event-hub.js';
import { sign, SIGNATURE_HEADER } from './webhook-signature.js';

type WebhookConfig = WebhookEndpoint;

export interface WebhookDeps {
  readonly hub: EventHub;
  readonly endpoints: readonly WebhookConfig[];
  readonly logger: Logger;
  readonly now: () => number;
  readonly random?: () => number;
  readonly onResult?: (endpoint: string, result: 'delivered' | 'failed' | 'retried' | 'dropped') => void;
  readonly onQueue?: (endpoint: string, size: number) => void;
}

/** Requests in flight per endpoint; more instances than this wait their turn. */
const PARALLEL = 8;

/** Delay before attempt `attempt + 1`: doubling from `backoffMs`, capped, with half of it jittered. */
export function backoffDelay(c: Pick<WebhookConfig, 'backoffMs' | 'maxBackoffMs'>, attempt: number, random: () => number): number {
  const full = Math.min(c.maxBackoffMs, c.backoffMs * 2 ** (attempt - 1));
  return Math.round(full / 2 + (full / 2) * random());
}

export function createWebhooks(deps: WebhookDeps): { start(): void; stop(): Promise<void> } {
  const random = deps.random ?? Math.random;
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const stops: Array<() => Promise<void>> = [];

  function endpoint(c: WebhookConfig): (e: VigilEvent) => void {
    const log = deps.logger.child({ webhook: c.name });
    const wanted = c.events ? new Set(c.events) : undefined;
    const queues = new Map<string, VigilEvent[]>();
    const limit = pLimit(PARALLEL);
    const timers = new Set<NodeJS.Timeout>();
    const inflight = new Set<AbortController>();
    let size = 0;
    let stopped = false;
    const changed = (d: number): void => {
      size += d;
      deps.onQueue?.(c.name, size);
    };

    async function attempt(e: VigilEvent, n: number): Promise<boolean> {
      const body = JSON.stringify({ id: e.id, type: e.type, at: e.at, ...(e.scope ? { scope: e.scope } : {}), data: e.data });
      const ts = deps.now();
      const ac = new AbortController();
      inflight.add(ac);
      const timer = setTimeout(() => ac.abort(), c.timeoutMs);
      try {
        const res = await request(c.url, {
          method: 'POST',
          dispatcher: agent,
          signal: ac.signal,
          headersTimeout: c.timeoutMs,
          bodyTimeout: c.timeoutMs,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'vigil-webhook',
            'x-vigil-event': e.type,
            'x-vigil-event-id': e.id,
            'x-vigil-delivery-attempt': String(n),
            [SIGNATURE_HEADER]: sign(c.secret, ts, body),
          },
          body,
        });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) return true;
        log.warn({ event: e.id, status: res.statusCode, attempt: n }, 'webhook endpoint refused an event');
      } catch (err) {
        if (!stopped) log.warn({ event: e.id, err: (err as Error).message, attempt: n }, 'webhook delivery failed');
      } finally {
        clearTimeout(timer);
        inflight.delete(ac);
      }
      return false;
    }

    /** Delivers the head of one instance's queue, then the next, until the queue is empty. */
    async function drain(key: string, q: VigilEvent[]): Promise<void> {
      while (q.length > 0 && !stopped) {
        const e = q[0]!;
        let n = 1;
        let ok = false;
        while (!stopped) {
          ok = await limit(() => attempt(e, n));
          if (ok || n >= c.maxAttempts) break;
          deps.onResult?.(c.name, 'retried');
          const delay = backoffDelay(c, n++, random);
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => (timers.delete(t), resolve()), delay);
            timers.add(t);
          });
        }
        if (stopped) return;
        deps.onResult?.(c.name, ok ? 'delivered' : 'failed');
        if (!ok) log.error({ event: e.id, attempts: n }, 'webhook event given up after maxAttempts');
        q.shift();
        changed(-1);
      }
      queues.delete(key);
    }

    stops.push(async () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      for (const ac of inflight) ac.abort();
      if (size > 0) log.warn({ undelivered: size }, 'webhook events not delivered before stop');
    });

    return (e) => {
      if (stopped || (wanted && !wanted.has(e.type))) return;
      if (size >= c.maxQueue) {
        deps.onResult?.(c.name, 'dropped');
        log.warn({ event: e.id, maxQueue: c.maxQueue }, 'webhook queue full: event dropped');
        return;
      }
      const key = e.scope?.instance ?? '*';
      changed(1);
      const q = queues.get(key);
      if (q) return void q.push(e);
      const fresh = [e];
      queues.set(key, fresh);
      void drain(key, fresh);
    };
  }

  const unsubs: Array<() => void> = [];
  return {
    start() {
      for (const c of deps.endpoints) unsubs.push(deps.hub.subscribe(endpoint(c)));
    },
    async stop() {
      for (const u of unsubs) u();
      for (const s of stops) await s();
      await agent.destroy();
    },
  };
}
