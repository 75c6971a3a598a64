/**
 * UDP push (Nacos 1.x): on every change of a service, each live subscriber gets
 * `{"type":"dom","data":"<list JSON>","lastRefTime":N}` (gzipped from 1 KiB), and answers
 * `{"type":"push-ack","lastRefTime":N}`. Best-effort: an unacknowledged packet is resent
 * `retries` times, then dropped; clients keep polling, so a lost push only delays an update.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { serviceKey, type ServiceId } from '../registry/model.js';
import type { Registry, RegistryEvent } from '../registry/registry.js';
import type { Subscriber, Subscribers } from './subscribers.js';

export const GZIP_FROM_BYTES = 1024;

export interface PushConfig {
  readonly ackTimeoutMs: number;
  readonly retries: number;
  readonly delayMs: number;
}

export interface PushDeps {
  readonly registry: Registry;
  readonly subscribers: Subscribers;
  readonly config: PushConfig;
  /** The list document for one subscriber, as JSON text (the same one `instance/list` answers). */
  readonly render: (sub: Subscriber) => string;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface PushStats {
  readonly subscribers: number;
  readonly sent: number;
  readonly acked: number;
  readonly failed: number;
  readonly pending: number;
}

export interface Push {
  /** Binds the UDP socket next to the API (`host`) and starts following the registry. */
  start(host: string): Promise<void>;
  stop(): Promise<void>;
  stats(): PushStats;
}

interface Pending {
  readonly sub: Subscriber;
  readonly packet: Buffer;
  tries: number;
  timer: NodeJS.Timeout;
}

/**
 * A packet id (`lastRefTime`): unique per packet and increasing. ms epoch × 1000, or one past the
 * last id when more than a thousand packets go out in one millisecond (stays below 2^53).
 */
export function nextPushId(lastId: number, nowMs: number): number {
  return Math.max(nowMs * 1000, lastId + 1);
}

export function createPush(deps: PushDeps): Push {
  const { registry, subscribers, config, logger } = deps;
  const now = deps.now ?? Date.now;
  const dirty = new Set<string>();
  const pending = new Map<number, Pending>();
  let socket: Socket | undefined;
  let family: 4 | 6 = 4;
  let flushTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let lastId = 0;
  let sent = 0;
  let acked = 0;
  let failed = 0;

  const serviceOf = (e: RegistryEvent): ServiceId | undefined => {
    if (e.type === 'instance-registered' || e.type === 'instance-updated' || e.type === 'health-changed') return e.record.instance;
    if (e.type === 'instance-deregistered') return e.instance;
    // The hosts' `role` metadata changed with the primary.
    if (e.type === 'primary-changed') return e.service;
    return undefined;
  };

  function onEvent(e: RegistryEvent): void {
    const inst = serviceOf(e);
    if (!inst) return;
    const key = serviceKey(inst);
    if (subscribers.forService(key, now()).length === 0) return;
    dirty.add(key);
    flushTimer ??= setTimeout(flush, config.delayMs);
  }

  function flush(): void {
    flushTimer = undefined;
    const at = now();
    const rendered = new Map<string, string>();
    for (const key of dirty) {
      for (const sub of subscribers.forService(key, at)) {
        const sig = `${sub.request.name}|${sub.request.clusters}|${sub.request.healthyOnly}|${sub.service.namespace}`;
        let data = rendered.get(sig);
        if (data === undefined) rendered.set(sig, (data = deps.render(sub)));
        send(sub, data, at);
      }
    }
    dirty.clear();
  }

  /** A v4 socket reaches v4-mapped addresses by their v4 form; a pure v6 peer needs a v6 socket. */
  function destination(address: string): string | undefined {
    const mapped = address.startsWith('::ffff:') ? address.slice(7) : address;
    if (family === 4) return isIP(mapped) === 4 ? mapped : undefined;
    return address;
  }

  function send(sub: Subscriber, data: string, at: number): void {
    const dest = destination(sub.address);
    if (!socket || dest === undefined) return;
    const id = (lastId = nextPushId(lastId, at));
    const json = Buffer.from(JSON.stringify({ type: 'dom', data, lastRefTime: id }));
    const packet = json.length >= GZIP_FROM_BYTES ? gzipSync(json) : json;
    const p: Pending = { sub, packet, tries: 0, timer: setTimeout(retry, config.ackTimeoutMs, id) };
    p.timer.unref();
    pending.set(id, p);
    transmit(p, dest);
  }

  function transmit(p: Pending, dest: string): void {
    sent++;
    socket?.send(p.packet, p.sub.port, dest, (err) => {
      if (err) logger.debug({ err, to: `${dest}:${p.sub.port}` }, 'udp push not sent');
    });
  }

  function retry(id: number): void {
    const p = pending.get(id);
    if (!p) return;
    const dest = destination(p.sub.address);
    if (p.tries >= config.retries || dest === undefined) {
      pending.delete(id);
      failed++;
      return;
    }
    p.tries++;
    p.timer = setTimeout(retry, config.ackTimeoutMs, id);
    p.timer.unref();
    transmit(p, dest);
  }

  function onMessage(msg: Buffer, rinfo: { address: string; port: number }): void {
    let ack: { type?: unknown; lastRefTime?: unknown };
    try {
      const text = (msg[0] === 0x1f && msg[1] === 0x8b ? gunzipSync(msg) : msg).toString('utf8');
      ack = JSON.parse(text) as typeof ack;
    } catch {
      return;
    }
    if (ack.type !== 'push-ack' || typeof ack.lastRefTime !== 'number') return;
    const p = pending.get(ack.lastRefTime);
    // Only the subscriber the packet went to can acknowledge it.
    if (!p || destination(p.sub.address) !== destination(rinfo.address) || p.sub.port !== rinfo.port) return;
    clearTimeout(p.timer);
    pending.delete(ack.lastRefTime);
    acked++;
  }

  return {
    async start(host) {
      family = isIP(host) === 6 ? 6 : 4;
      const s = createSocket(family === 6 ? 'udp6' : 'udp4');
      s.on('message', onMessage);
      s.on('error', (err) => logger.warn({ err }, 'udp push socket error'));
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(0, host, () => {
            s.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        logger.warn({ err, host }, 'udp push disabled: cannot bind a UDP socket; clients will poll');
        s.close();
        return;
      }
      s.unref();
      socket = s;
      unsubscribe = registry.subscribe(onEvent);
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      clearTimeout(flushTimer);
      flushTimer = undefined;
      for (const p of pending.values()) clearTimeout(p.timer);
      pending.clear();
      const s = socket;
      socket = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    stats: () => ({ subscribers: subscribers.size, sent, acked, failed, pending: pending.size }),
  };
}
