/**
 * MySQL / MariaDB probe: one reused connection per target and user, one role query
 * (`read_only`, `super_read_only`, `innodb_read_only`) and an optional custom query per probe.
 * A read-only server is a live replica: a counted `fail` when a primary is required, else `ok`.
 */
import { performance } from 'node:perf_hooks';
import { createConnection, type Connection, type ConnectionOptions } from 'mysql2';
import { z } from 'zod';
import { isVigilError } from '../src/errors.js';
import { classifyError } from '../src/health/classify.js';
import { defineChecker, type CheckOutcome, type Credential, type Fact } from '../src/health/contract.js';
import { targetKey } from '../src/health/resources.js';
import { MAX_TEXT_CHARS } from '../src/registry/limits.js';
import { isInsecureAuth, safeAuthPlugins } from '../src/security/mysql-auth.js';
import { passwordSourceShape, resolvePassword, sourceCount } from '../src/security/secret-source.js';

const ms = z.number().int().positive().max(600_000);

const options = z
  .strictObject({
    /** Default `root`, or the named credential's user. */
    user: z.string().min(1).max(256).optional(),
    ...passwordSourceShape,
    /** A named credential from the operator's config (user, password, pinned server key, allowed hosts). */
    credential: z.string().min(1).optional(),
    database: z.string().min(1).max(256).optional(),
    requirePrimary: z.boolean().default(true),
    query: z.string().min(1).max(MAX_TEXT_CHARS).optional(),
    // `expect=1` on the command line arrives as a number; compare it by its text.
    expect: z.union([z.string().max(MAX_TEXT_CHARS), z.number()]).transform(String).optional(),
    connectTimeoutMs: ms.default(1000),
    // Absent: the rest of the probe's budget, so a stalled server costs one counted failure per budget.
    queryTimeoutMs: ms.optional(),
  })
  .refine((o) => sourceCount(o) <= 1, { error: 'give at most one of password, passwordEnv, passwordFile', path: ['password'] })
  .refine((o) => o.credential === undefined || sourceCount(o) === 0, { error: 'a credential brings its own password', path: ['credential'] })
  .refine((o) => o.expect === undefined || o.query !== undefined, { error: 'expect needs a query', path: ['expect'] });

type Options = z.output<typeof options>;

// MariaDB 10.11 has no super_read_only; MySQL 8 has all three. SHOW works on both, SELECT @@x would not.
const ROLE_SQL =
  "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only','super_read_only','innodb_read_only')";
function credentialOf(o: Options): string {
  if (o.credential !== undefined) return `credential:${o.credential}`;
  if (o.passwordEnv !== undefined) return `env:${o.passwordEnv}`;
  if (o.passwordFile !== undefined) return `file:${o.passwordFile}`;
  return o.password === undefined ? 'none' : `inline:${o.password}`;
}

/** One server connection and what it was opened with. Lives in the framework's resource cache. */
class Link {
  readonly ready: Promise<Connection>;
  /** Set once the connection failed or was closed; the next probe replaces it. */
  dead = false;
  /**
   * The role query timed out on this open connection and may still be waiting: the server is
   * stalled (SIGSTOP, a long GC or I/O stall) or overloaded. The connection is kept once, so the
   * next probe's query runs the moment the server answers again instead of reconnecting to a
   * paused server (whose handshake would time out and count another failure); a second stall drops it.
   */
  stalled = false;
  /** Which password source opened it; compared (never shown) so a changed password reconnects. */
  readonly #credential: string;
  #conn: Connection | undefined;
  #secrets: string[];

  constructor(o: Options, host: string, port: number, credential: Credential | undefined, onLost?: () => void) {
    this.#credential = credentialOf(o);
    this.#secrets = o.password ? [o.password] : [];
    this.ready = this.#open(o, host, port, credential, onLost);
    this.ready.catch(() => (this.dead = true));
  }

  async #open(o: Options, host: string, port: number, credential: Credential | undefined, onLost: (() => void) | undefined): Promise<Connection> {
    // The env var or file is read when a connection opens (operator config or CLI only: the API refuses them).
    const secret = credential ? credential.password : resolvePassword(o);
    if (secret) this.#secrets.push(secret);
    if (this.dead) throw new DOMException('connection closed before it opened', 'AbortError');
    const conn = createConnection({
      host, port, user: credential?.user ?? o.user ?? 'root', password: secret ?? '', connectTimeout: o.connectTimeoutMs,
      authPlugins: safeAuthPlugins(credential?.serverPublicKey) as NonNullable<ConnectionOptions['authPlugins']>,
      // Custom-query values are compared as text: keep dates and big numbers as the server wrote them.
      dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, multipleStatements: false,
      ...(o.database === undefined ? {} : { database: o.database }),
    });
    this.#conn = conn;
    // Kept for the connection's whole life: mysql2 emits 'error' on a dead idle connection, and an
    // 'error' without a listener would crash the daemon.
    let pending: ((err: unknown) => void) | undefined;
    conn.on('error', (err: unknown) => {
      // mysql2 hands errors during a query to the query; one here with no connect pending means
      // the server closed the kept connection between probes (killed, restarted): say so now.
      const betweenProbes = !this.dead && pending === undefined;
      this.dead = true;
      pending?.(err);
      if (betweenProbes) onLost?.();
    });
    await new Promise<void>((resolve, reject) => {
      pending = reject;
      conn.once('connect', () => resolve());
    }).finally(() => (pending = undefined));
    return conn;
  }

  openedWith(o: Options): boolean {
    return this.#credential === credentialOf(o);
  }

  /** Removes the passwords this link knows from a text. */
  scrub(text: string): string {
    return this.#secrets.reduce((t, secret) => t.split(secret).join('***'), text);
  }

  close(): void {
    this.dead = true;
    try {
      this.#conn?.destroy();
    } catch {
      // already gone
    }
  }
}

function disposeLink(link: Link): void {
  link.close();
}

/** Settles with `p`, or rejects at once when `signal` aborts (mysql2 itself has no AbortSignal). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function query(conn: Connection, sql: string, timeout: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    conn.query({ sql, timeout, rowsAsArray: true }, (err, rows) => (err ? reject(err) : resolve(rows)));
  });
}

function firstCell(rows: unknown): unknown {
  return Array.isArray(rows) && Array.isArray(rows[0]) ? (rows[0] as unknown[])[0] : undefined;
}

function textOf(value: unknown): string {
  if (value === null) return 'NULL';
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

async function readRole(conn: Connection, timeout: number): Promise<Record<string, Fact> | undefined> {
  const rows = (await query(conn, ROLE_SQL, timeout)) as [string, string][];
  const vars = new Map(rows.map(([name, value]) => [name.toLowerCase(), /^(ON|1)$/i.test(String(value))]));
  const readOnly = vars.get('read_only');
  if (readOnly === undefined) return undefined;
  const superRo = vars.get('super_read_only');
  const innodbRo = vars.get('innodb_read_only');
  const replica = readOnly || superRo === true || innodbRo === true;
  return {
    role: replica ? 'replica' : 'primary',
    readOnly,
    ...(superRo === undefined ? {} : { superReadOnly: superRo }),
    ...(innodbRo === undefined ? {} : { innodbReadOnly: innodbRo }),
  };
}

function outcomeOf(err: unknown, o: Options): CheckOutcome {
  if (isVigilError(err, 'VIGIL_ERR_SECRET_UNAVAILABLE')) return { status: 'fail-now', reason: 'secret', detail: err.message };
  if (isInsecureAuth(err)) return { status: 'fail-now', reason: 'insecure-auth', detail: (err as Error).message };
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
    return { status: 'fail', reason: 'timeout', detail: `no answer to a query within ${o.queryTimeoutMs ?? 'the probe budget of'} ms` };
  }
  if (code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR' || code === 'ER_HOST_NOT_PRIVILEGED') {
    return { status: 'fail-now', reason: 'auth', detail: (err as Error).message };
  }
  const out = classifyError(err);
  // A fatal mysql2 error without a code is a connection closed under us ("closed state").
  if (out.reason === 'error' && (err as { fatal?: unknown } | undefined)?.fatal === true) return { ...out, reason: 'reset' };
  return out;
}

/** No answer in time: mysql2's query timeout, or the runner's deadline (not a stop of the daemon). */
function isStall(err: unknown, signal: AbortSignal): boolean {
  if ((err as { code?: unknown } | undefined)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') return true;
  return signal.aborted && (signal.reason as { name?: unknown } | undefined)?.name === 'TimeoutError';
}

/** A server error answered on a healthy connection (bad SQL) keeps it; anything else replaces it. */
function connectionSurvives(err: unknown): boolean {
  const e = err as { code?: unknown; fatal?: unknown } | undefined;
  return typeof e?.code === 'string' && e.code.startsWith('ER_') && e.fatal !== true;
}

export default defineChecker({
  type: 'mysql',
  description: 'Connects to MySQL/MariaDB, reports its role (primary or read-only replica), optionally runs a query',
  secretOptions: ['password'],
  operatorOnlyOptions: ['passwordEnv', 'passwordFile'],
  options,
  async check(ctx) {
    const o = ctx.options;
    const key = `${targetKey(ctx.target.host, ctx.target.port)}|${o.credential ?? o.user ?? ''}|${o.database ?? ''}`;
    const open = () => new Link(o, ctx.target.host, ctx.target.port, ctx.credential, ctx.wake);
    let link = ctx.resources.use(key, open, disposeLink);
    if (link.dead || !link.openedWith(o)) {
      await ctx.resources.evict(key);
      link = ctx.resources.use(key, open, disposeLink);
    }
    const current = link;
    // Evict only our own link: another probe may already have replaced it.
    const drop = async () => {
      current.close();
      await ctx.resources.evict(key, current);
    };
    // The rest of the budget, so mysql2's own timeout comes no earlier than the runner's deadline.
    const queryTimeout = (): number => o.queryTimeoutMs ?? Math.max(1, Math.ceil(ctx.deadline - performance.now()));
    let stage: 'connect' | 'role' | 'query' = 'connect';
    try {
      // mysql2 has no AbortSignal: abortable() settles the probe at once on abort, and the catch
      // below destroys the connection, since a waiting query would otherwise hold it.
      const conn = await abortable(current.ready, ctx.signal);
      stage = 'role';
      const facts = await abortable(readRole(conn, queryTimeout()), ctx.signal);
      current.stalled = false;
      stage = 'query';
      if (!facts) return { status: 'fail-now', reason: 'sql', detail: 'the server reports no read_only variable' };
      if (facts.role === 'replica' && o.requirePrimary) {
        return { status: 'fail', reason: 'replica', detail: 'server is read-only (a replica)', facts };
      }
      if (o.query !== undefined) {
        const value = firstCell(await abortable(query(conn, o.query, queryTimeout()), ctx.signal));
        if (o.expect !== undefined && (value === undefined || textOf(value) !== o.expect)) {
          const got = value === undefined ? 'no rows' : `"${textOf(value).slice(0, 200)}"`;
          return { status: 'fail-now', reason: 'unexpected-value', detail: current.scrub(`expected "${o.expect}", got ${got}`), facts };
        }
      }
      return { status: 'ok', reason: String(facts.role), facts };
    } catch (err) {
      if (stage === 'role' && !current.dead && !current.stalled && isStall(err, ctx.signal)) current.stalled = true;
      else if (current.dead || !connectionSurvives(err)) await drop();
      const out = outcomeOf(err, o);
      return out.detail === undefined ? out : { ...out, detail: current.scrub(out.detail) };
    }
  },
});
