/**
 * Who asked for which service list with a `udpPort`: the subscribers UDP pushes go to. The address
 * is the one the request came from, never the `clientIP` parameter (anyone could name a victim
 * there and have vigil flood it). A subscription lives while its client keeps polling: it expires
 * `ttlMs` after the last `instance/list` request. Time is passed in.
 *
 * Fairness: one client address may hold at most `maxPerClient` subscriptions under the global
 * `max`, so a single noisy client cannot take every slot and deny pushes to the others.
 */
import { serviceKey, type ServiceId } from '../registry/model.js';
import type { ListRequest } from './views.js';

export interface Subscriber {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly service: ServiceId;
  readonly request: ListRequest;
  lastSeen: number;
}

export interface Subscribers {
  /** Adds or refreshes a subscription; false when the table is full. */
  touch(service: ServiceId, request: ListRequest, address: string, port: number, now: number): boolean;
  /** Live subscribers of a service (expired ones are dropped on the way). */
  forService(key: string, now: number): Subscriber[];
  prune(now: number): void;
  readonly size: number;
}

export function createSubscribers(ttlMs: number, max: number, maxPerClient = max): Subscribers {
  const byService = new Map<string, Map<string, Subscriber>>();
  const perClient = new Map<string, number>();
  let size = 0;

  const drop = (key: string, subs: Map<string, Subscriber>, id: string): void => {
    const sub = subs.get(id);
    if (!sub) return;
    subs.delete(id);
    size--;
    const held = (perClient.get(sub.address) ?? 1) - 1;
    if (held > 0) perClient.set(sub.address, held);
    else perClient.delete(sub.address);
    if (subs.size === 0) byService.delete(key);
  };

  return {
    touch(service, request, address, port, now) {
      const key = serviceKey(service);
      const id = `${address}|${port}|${request.name}|${request.clusters}|${request.healthyOnly}`;
      let subs = byService.get(key);
      const known = subs?.get(id);
      if (known) {
        known.lastSeen = now;
        return true;
      }
      const held = perClient.get(address) ?? 0;
      if (size >= max || held >= maxPerClient) return false;
      if (!subs) byService.set(key, (subs = new Map()));
      subs.set(id, { id, address, port, service, request, lastSeen: now });
      size++;
      perClient.set(address, held + 1);
      return true;
    },
    forService(key, now) {
      const subs = byService.get(key);
      if (!subs) return [];
      const out: Subscriber[] = [];
      for (const s of subs.values()) {
        if (now - s.lastSeen > ttlMs) drop(key, subs, s.id);
        else out.push(s);
      }
      return out;
    },
    prune(now) {
      for (const [key, subs] of byService) for (const s of subs.values()) if (now - s.lastSeen > ttlMs) drop(key, subs, s.id);
    },
    get size() {
      return size;
    },
  };
}
