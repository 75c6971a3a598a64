/**
 * A database client that follows the primary of a service through vigil: it long-polls
 * `GET /v1/services/{name}/primary?version=&wait=`, keeps one connection to the instance named,
 * and drops it the moment the answer changes (to another primary, to none, or to a split brain).
 * Writes made while there is no single primary fail fast instead of going to a wrong server.
 *
 *   const db = followPrimary({ url: 'http://127.0.0.1:8848', service: 'orders-db', user: 'app' });
 *   await db.query('INSERT INTO orders.ticks VALUES (NOW())');
 *   await db.stop();
 */
import { createConnection, type Connection } from 'mysql2/promise';

export interface FollowOptions {
  /** vigil's API, e.g. http://127.0.0.1:8848 */
  readonly url: string;
  readonly service: string;
  readonly user: string;
  readonly password?: string;
  /** Longest long-poll, ms (the daemon caps it at primaries.maxWaitMs). */
  readonly waitMs?: number;
  /** Called with every new answer: its HTTP status and body. */
  readonly onChange?: (status: number, body: PrimaryAnswer) => void;
}

export interface PrimaryAnswer {
  readonly version: string;
  readonly primary: { readonly ip: string; readonly port: number } | null;
  readonly code?: string;
  readonly reason?: string;
  readonly candidates: ReadonlyArray<{ readonly ip: string; readonly port: number }>;
}

export interface Follower {
  /** Runs `sql` on the current primary; rejects at once when there is no single primary. */
  query(sql: string, values?: unknown[]): Promise<unknown>;
  /** The primary written to now, `ip:port`, or undefined. */
  readonly target: string | undefined;
  stop(): Promise<void>;
}

export function followPrimary(o: FollowOptions): Follower {
  const endpoint = new URL(`/v1/services/${encodeURIComponent(o.service)}/primary`, o.url);
  const stop = new AbortController();
  let version = '';
  let conn: Connection | undefined;
  let target: string | undefined;

  const drop = (): void => {
    void conn?.end().catch(() => undefined);
    conn = undefined;
    target = undefined;
  };

  const loop = (async () => {
    while (!stop.signal.aborted) {
      endpoint.search = new URLSearchParams({ version, wait: String(o.waitMs ?? 30_000) }).toString();
      let res: Response;
      try {
        res = await fetch(endpoint, { signal: stop.signal });
      } catch {
        if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, 500)); // vigil unreachable: retry
        continue;
      }
      if (res.status === 304) continue; // unchanged: ask again
      const body = (await res.json()) as PrimaryAnswer;
      version = body.version ?? '';
      drop();
      if (res.status === 200 && body.primary) {
        try {
          conn = await createConnection({ host: body.primary.ip, port: body.primary.port, user: o.user, password: o.password ?? '' });
          conn.on('error', () => drop()); // the server went away: wait for vigil's next answer
          target = `${body.primary.ip}:${body.primary.port}`;
        } catch {
          version = ''; // could not connect: ask again soon rather than wait for a change
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      o.onChange?.(res.status, body);
    }
  })();

  return {
    async query(sql, values) {
      if (!conn) throw new Error(`no single primary for ${o.service} right now`);
      return conn.query(sql, values);
    },
    get target() {
      return target;
    },
    async stop() {
      stop.abort();
      await loop;
      drop();
    },
  };
}
