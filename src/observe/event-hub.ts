/**
 * The event hub: subscribes to the registry's change feed once, gives each mapped event an id, keeps
 * the last `historySize` in a ring for resuming (`Last-Event-ID`), and hands each event to its
 * sinks (SSE clients, webhooks). Ids are `<boot>-<seq>`: a client holding an id from an earlier run
 * of the daemon is told to resync instead of being given a wrong gap.
 */
import type { Registry } from '../registry/registry.js';
import { mapEvent, type EventScope } from './event-table.js';

export interface VigilEvent {
  readonly id: string;
  readonly seq: number;
  readonly type: string;
  readonly at: number;
  readonly scope?: EventScope;
  readonly data: Readonly<Record<string, unknown>>;
}

export type Sink = (event: VigilEvent) => void;

/** What a resume from an id gives: the events after it, or `resync` when they are no longer held. */
export type Replay = { readonly events: readonly VigilEvent[] } | { readonly resync: true };

export interface EventHub {
  start(): void;
  stop(): void;
  subscribe(sink: Sink): () => void;
  /** Events after `seq` of this run (`undefined`: none, a fresh client). */
  replay(after: { boot: string; seq: number } | undefined): Replay;
  readonly boot: string;
  /** Last sequence number handed out. */
  readonly seq: number;
}

export interface EventHubDeps {
  readonly registry: Registry;
  readonly now: () => number;
  readonly historySize: number;
  /** Distinguishes this run's ids from an earlier run's (default: start time, base 36). */
  readonly boot?: string;
  /** Applied to each event's data before anyone sees it (the security module's redaction). */
  readonly redact?: (data: Readonly<Record<string, unknown>>) => Readonly<Record<string, unknown>>;
  /** A sink that throws is reported here and stays subscribed; it must not stop the feed. */
  readonly onSinkError?: (err: unknown) => void;
}

export function createEventHub(deps: EventHubDeps): EventHub {
  const boot = deps.boot ?? deps.now().toString(36);
  const ring: Array<VigilEvent | undefined> = new Array(deps.historySize);
  const sinks = new Set<Sink>();
  let seq = 0;
  let unsubscribe: (() => void) | undefined;

  function publish(type: string, scope: EventScope | undefined, data: Readonly<Record<string, unknown>>): void {
    seq++;
    const event: VigilEvent = scope ? { id: `${boot}-${seq}`, seq, type, at: deps.now(), scope, data } : { id: `${boot}-${seq}`, seq, type, at: deps.now(), data };
    ring[seq % deps.historySize] = event;
    for (const sink of sinks) {
      try {
        sink(event);
      } catch (err) {
        deps.onSinkError?.(err);
      }
    }
  }

  return {
    boot,
    get seq() {
      return seq;
    },
    start() {
      unsubscribe ??= deps.registry.subscribe((e) => {
        const mapped = mapEvent(e);
        if (mapped) publish(mapped.type, mapped.scope, deps.redact ? deps.redact(mapped.data) : mapped.data);
      });
    },
    stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      sinks.clear();
    },
    subscribe(sink) {
      sinks.add(sink);
      return () => sinks.delete(sink);
    },
    replay(after) {
      if (after === undefined) return { events: [] };
      if (after.boot !== boot || after.seq > seq) return { resync: true };
      const oldest = Math.max(1, seq - deps.historySize + 1);
      // The event right after the client's last one must still be held, or there is a gap.
      if (after.seq + 1 < oldest) return { resync: true };
      const events: VigilEvent[] = [];
      for (let s = after.seq + 1; s <= seq; s++) events.push(ring[s % deps.historySize]!);
      return { events };
    },
  };
}
