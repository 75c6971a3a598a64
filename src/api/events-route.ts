/**
 * `GET /v1/events`: the event hub as Server-Sent Events. Each event is serialised once and written
 * to every matching client. A client that does not read (its socket buffer grows past
 * `maxBufferedBytes`) is disconnected rather than buffered for: probing never waits on a reader,
 * and a reconnect with `Last-Event-ID` resumes from the hub's history.
 */
import type { FastifyInstance } from 'fastify';
import { READ } from './access.js';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { VigilError } from '../errors.js';
import type { EventHub, VigilEvent } from '../observe/event-hub.js';
import { matchesFilter, parseEventFilter, parseLastEventId, type EventFilter } from '../observe/event-filter.js';

export interface EventsRouteDeps {
  readonly hub: EventHub;
  readonly logger: Logger;
  readonly maxClients: number;
  readonly maxBufferedBytes: number;
  readonly keepAliveMs: number;
  /** Counts clients connected and dropped (metrics). */
  readonly onClients?: (connected: number) => void;
  readonly onDropped?: () => void;
}

/** `id`, `event` and one `data` line: JSON never contains a raw newline. */
export function frameOf(e: VigilEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ id: e.id, type: e.type, at: e.at, ...(e.scope ? { scope: e.scope } : {}), data: e.data })}\n\n`;
}

interface Client {
  readonly res: ServerResponse;
  readonly filter: EventFilter;
  /** Frames of this event-loop turn, written as one chunk at its end. */
  pending: string;
}

export function registerEventsRoute(app: FastifyInstance, deps: EventsRouteDeps): { close(): void } {
  const clients = new Set<Client>();
  let closed = false;
  // Frames are cached per event so 100 clients cost one JSON.stringify, not 100.
  let lastEvent: VigilEvent | undefined;
  let lastFrame = '';
  const frame = (e: VigilEvent): string => {
    if (e !== lastEvent) {
      lastEvent = e;
      lastFrame = frameOf(e);
    }
    return lastFrame;
  };

  const drop = (c: Client, why: string): void => {
    if (!clients.delete(c)) return;
    deps.onClients?.(clients.size);
    deps.onDropped?.();
    deps.logger.warn({ why, buffered: c.res.writableLength }, 'event stream client dropped');
    c.res.destroy();
  };
  // A burst of events (a failover flips many instances at once) becomes one write per client
  // instead of one per event and client: far fewer syscalls at 100 clients.
  let flushing = false;
  const flush = (): void => {
    flushing = false;
    for (const c of clients) {
      if (c.pending === '') continue;
      if (c.res.writableLength > deps.maxBufferedBytes) {
        drop(c, 'slow consumer');
        continue;
      }
      c.res.write(c.pending);
      c.pending = '';
    }
  };
  const send = (c: Client, text: string): void => {
    c.pending += text;
    if (!flushing) {
      flushing = true;
      setImmediate(flush);
    }
  };

  const unsubscribe = deps.hub.subscribe((e) => {
    for (const c of clients) if (matchesFilter(c.filter, e)) send(c, frame(e));
  });
  const keepAlive = setInterval(() => {
    for (const c of clients) send(c, ': keep-alive\n\n');
  }, deps.keepAliveMs);
  keepAlive.unref();

  app.get('/v1/events', READ, async (req, reply) => {
    const query = { ...(req.query as Record<string, unknown>) };
    const filter = parseEventFilter(query);
    const header = req.headers['last-event-id'];
    const after = header !== undefined ? parseLastEventId(header, 'Last-Event-ID') : parseLastEventId(query.lastEventId, 'lastEventId');
    if (clients.size >= deps.maxClients) throw new VigilError('VIGIL_ERR_EVENTS_CLIENTS', `the event stream already has ${deps.maxClients} clients`, 'observe.events.maxClients');
    // A stream opened while the daemon stops would never be ended and would hold the server open.
    if (closed) return reply.code(503).send({ code: 'VIGIL_ERR_INTERNAL', message: 'vigil is stopping' });
    const replay = deps.hub.replay(after);
    reply.hijack();
    const res = reply.raw;
    // `connection: close`: a stream is the connection's last response, so it never idles in a pool.
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'close', 'x-accel-buffering': 'no' });
    const c: Client = { res, filter, pending: '' };
    clients.add(c);
    deps.onClients?.(clients.size);
    res.write('retry: 2000\n\n');
    if ('resync' in replay) {
      // The missed events are gone (or the id is from an earlier run): the client must re-read state.
      const id = `${deps.hub.boot}-${deps.hub.seq}`;
      res.write(`id: ${id}\nevent: resync\ndata: ${JSON.stringify({ lastEventId: id })}\n\n`);
    } else {
      for (const e of replay.events) if (matchesFilter(filter, e)) res.write(frameOf(e));
    }
    res.on('close', () => {
      if (clients.delete(c)) deps.onClients?.(clients.size);
    });
    res.on('error', () => {});
    return reply;
  });

  return {
    /** Ends every stream (before the server closes, which would wait for them forever). */
    close() {
      closed = true;
      unsubscribe();
      clearInterval(keepAlive);
      // Destroyed, not ended: an ended stream's socket turns into an idle keep-alive connection
      // after the server has closed its idle ones, and the server would wait keepAliveTimeout for it.
      for (const c of clients) c.res.destroy();
      clients.clear();
      deps.onClients?.(0);
    },
  };
}
