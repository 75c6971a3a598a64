/**
 * HTTP(S) probe: one request (plus, when asked, the redirects it leads to), judged by status and
 * optionally by what the body contains. By default one keep-alive undici Client per target is
 * reused between probes through the framework's resource cache; `connection: 'fresh'` opens and
 * closes a connection per probe instead: over plain HTTP without redirects that is a minimal
 * HTTP/1.1 exchange (src/health/http1-exchange.ts: on libuv's TCP handle to an IP literal, else on
 * `net`), else a fresh undici Client.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Client, errors, type Dispatcher } from 'undici';
import { z } from 'zod';
import { regexSource, textMatcher, type TextMatcher } from '../src/health/option-schemas.js';
import { classifyError } from '../src/health/classify.js';
import { defineChecker, type CheckContext, type CheckOutcome, type Target } from '../src/health/contract.js';
import { connectOptions, exchange, type ExchangeSpec } from '../src/health/http1-exchange.js';
import { targetKey } from '../src/health/resources.js';
import { rawFamily } from '../src/health/tcp-handle.js';
import { MAX_LIST_ITEMS, MAX_TEXT_CHARS } from '../src/registry/limits.js';

/** Idle time of a kept-alive socket when the server sends no `Keep-Alive: timeout` hint; under the common 5 s server idle timeout. */
const KEEP_ALIVE_IDLE_MS = 4_000;
/** Upper bound on a server's `Keep-Alive: timeout` hint. */
const KEEP_ALIVE_MAX_MS = 60_000;
/** Stop reusing a socket this long before the server's announced idle timeout, so we never write to a socket it is closing. */
const KEEP_ALIVE_MARGIN_MS = 2_000;
const DETAIL_CHARS = 120;
const USER_AGENT = 'vigil-health-check';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const STATUS_PATTERN = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

type Range = readonly [number, number];
type Matcher = TextMatcher;

function toRange(item: number | string | Range): Range {
  if (typeof item === 'number') return [item, item];
  if (typeof item !== 'string') return item;
  const [, lo = '', hi = lo] = STATUS_PATTERN.exec(item) ?? [];
  return [Number(lo), Number(hi)];
}

const status = z.number().int().min(100).max(599);

/**
 * Status numbers and `NNN-NNN` ranges, as an array or one comma-separated string (`"200-299,404"`).
 * The normalized form, `[lo, hi]` pairs, is accepted too: it is what the store keeps and revalidates.
 */
function statusList(minItems: number) {
  return z
    .preprocess(
      (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : typeof v === 'number' ? [v] : v),
      z.array(z.union([status, z.string().regex(STATUS_PATTERN, 'expected NNN or NNN-NNN'), z.tuple([status, status])])).min(minItems).max(MAX_LIST_ITEMS),
    )
    .transform((items) => items.map(toRange))
    .refine((ranges) => ranges.every(([lo, hi]) => lo <= hi), { error: 'a range must run from low to high' });
}

const options = z
  .strictObject({
    scheme: z.enum(['http', 'https']).default('http'),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    path: z.string().max(2048).regex(/^\/[^\s]*$/, 'must start with / and contain no whitespace').default('/'),
    headers: z
      .record(z.string().max(256).regex(HEADER_NAME, 'not a valid header name'), z.string().max(MAX_TEXT_CHARS).regex(/^[^\r\n\0]*$/, 'no line breaks'))
      .refine((h) => Object.keys(h).length <= MAX_LIST_ITEMS, { error: `at most ${MAX_LIST_ITEMS} headers` })
      .refine((h) => Object.keys(h).every((k) => k.toLowerCase() !== 'host'), { error: 'set the Host header with the host option' })
      .default({}),
    host: z.string().max(261).regex(/^[^\s/]+$/, 'a host name, optionally with :port').optional(),
    expectStatus: statusList(1).prefault(['200-299']),
    failStatus: statusList(0).prefault([302, 503]),
    /** `fail-now` (default): a refused connection flips at once; `fail`: it is counted like a timeout. */
    refused: z.enum(['fail-now', 'fail']).default('fail-now'),
    bodyContains: z.string().min(1).max(MAX_TEXT_CHARS).optional(),
    bodyRegex: regexSource().optional(),
    maxBodyBytes: z.number().int().positive().max(16_777_216).default(65_536),
    followRedirects: z.boolean().default(false),
    maxRedirects: z.number().int().min(1).max(20).default(3),
    connectTimeoutMs: z.number().int().positive().default(1000),
    tlsVerify: z.boolean().default(true),
    servername: z.string().min(1).max(253).optional(),
    connection: z.enum(['keepalive', 'fresh']).default('keepalive'),
  })
  .refine((o) => o.bodyContains === undefined || o.bodyRegex === undefined, {
    error: 'set bodyContains or bodyRegex, not both',
    path: ['bodyRegex'],
  })
  .refine((o) => o.method === 'GET' || (o.bodyContains === undefined && o.bodyRegex === undefined), {
    error: 'a body check needs method GET',
    path: ['method'],
  });

type Options = z.output<typeof options>;
type Response = Dispatcher.ResponseData;
type RequestOptions = Dispatcher.RequestOptions & { servername?: string };

/** Headers sent to another origin a redirect leads to: none of the configured ones. */
const FOREIGN_HEADERS: readonly string[] = Object.freeze(['user-agent', USER_AGENT]);
/**
 * Handed to `Client.destroy()` for a probe's own clients: without one, undici builds a new
 * ClientDestroyedError (a stack capture) per probe, and when the socket is still open the socket's
 * destroy formats its stack too. Same class and code, so whatever sees it classifies it as before;
 * undici's socket keeps its own 'error' listener, so it is never unhandled.
 */
const CLIENT_DONE = new errors.ClientDestroyedError();

/** A thrown error as an outcome; a refused connection counts as `fail` when the options say so. */
function failureOf(err: unknown, o: Options): CheckOutcome {
  const outcome = classifyError(err);
  return outcome.reason === 'refused' && o.refused === 'fail' ? { ...outcome, status: 'fail' } : outcome;
}

function inRanges(status: number, ranges: readonly Range[]): boolean {
  for (const [lo, hi] of ranges) if (status >= lo && status <= hi) return true;
  return false;
}
const formatRanges = (ranges: readonly Range[]): string => ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
const excerpt = (text: string): string => JSON.stringify(text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}…` : text);
const ignore = (): void => {};


/** Where one target is reached under one options object. */
interface Endpoint {
  readonly origin: string;
  /** Resource-cache key of its kept-alive client. */
  readonly key: string;
  readonly create: () => Client;
  /** What the minimal path needs for this target, when the plan takes it. */
  readonly exchange: ExchangeSpec | undefined;
}

/**
 * What a probe derives from its options, computed once per validated options object (they are
 * frozen and held by the task) instead of on every probe.
 */
interface Plan {
  readonly options: Options;
  readonly keepAlive: boolean;
  /** Headers to the configured origin, as undici's flat list: user agent, custom ones lower-cased, Host override. */
  readonly ownHeaders: readonly string[];
  readonly matches: Matcher | undefined;
  /** `expectStatus` as written in a detail. */
  readonly expected: string;
  readonly endpoints: WeakMap<Target, Endpoint>;
  /** Fresh connection, plain HTTP, no redirects: the probe takes the minimal HTTP/1.1 path. */
  readonly minimal: boolean;
  readonly wantsBody: (statusCode: number) => boolean;
  /** The minimal path's verdict on a complete answer, and on an error. */
  readonly verdict: (statusCode: number, statusText: string, text: string, matched: boolean) => CheckOutcome;
  readonly failure: (err: Error) => CheckOutcome;
  /** The last ok outcome per status (healthyOutcome); at most one per status in expectStatus. */
  readonly healthy: Map<number, CheckOutcome>;
}

// Module-level, yet not the state the contract forbids: a memo of pure derivations of immutable
// options, invisible to behaviour and collected with them.
const plans = new WeakMap<Options, Plan>();

function planOf(o: Options): Plan {
  let plan = plans.get(o);
  if (plan === undefined) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    for (const [k, v] of Object.entries(o.headers)) headers[k.toLowerCase()] = v;
    if (o.host !== undefined) headers.host = o.host;
    plan = {
      options: o,
      keepAlive: o.connection === 'keepalive',
      ownHeaders: Object.freeze(Object.entries(headers).flat()),
      matches: textMatcher(o.bodyContains, o.bodyRegex),
      expected: formatRanges(o.expectStatus),
      endpoints: new WeakMap(),
      minimal: o.connection === 'fresh' && o.scheme === 'http' && !o.followRedirects,
      wantsBody: (statusCode) => inRanges(statusCode, o.expectStatus),
      verdict: (statusCode, statusText, text, matched) => freshVerdict(plan!, statusCode, statusText, text, matched),
      failure: (err) => failureOf(err, o),
      healthy: new Map(),
    };
    plans.set(o, plan);
  }
  return plan;
}

function endpointOf(plan: Plan, target: Target): Endpoint {
  let at = plan.endpoints.get(target);
  if (at === undefined) {
    const o = plan.options;
    const hostPort = targetKey(target.host, target.port);
    const origin = `${o.scheme}://${hostPort}`;
    const exchange = plan.minimal ? exchangeSpec(plan, target, hostPort) : undefined;
    at = { origin, key: clientKey(hostPort, o), create: () => createClient(origin, o), exchange };
    plan.endpoints.set(target, at);
  }
  return at;
}

/** The request the minimal path sends: what undici would send, with `Connection: close`. */
function requestHead(plan: Plan, hostPort: string): Buffer {
  const o = plan.options;
  let text = `${o.method} ${o.path} HTTP/1.1\r\n`;
  const h = plan.ownHeaders;
  if (o.host === undefined) text += `host: ${hostPort}\r\n`;
  for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
  return Buffer.from(`${text}connection: close\r\n\r\n`, 'latin1');
}

/**
 * The kept-alive client is shared by every probe of the same key, so the key holds every option
 * that shapes the client or its connections (two configs on one target that differ only in
 * `connectTimeoutMs` must not share the first one's client). Keep it in step with createClient.
 */
function clientKey(hostPort: string, o: Pick<Options, 'scheme' | 'servername' | 'tlsVerify' | 'connectTimeoutMs'>): string {
  return `${hostPort}|${o.scheme}|${o.servername ?? ''}|${o.tlsVerify}|${o.connectTimeoutMs}`;
}

function createClient(origin: string, o: Options): Client {
  return new Client(origin, {
    connect: { timeout: o.connectTimeoutMs, rejectUnauthorized: o.tlsVerify, autoSelectFamily: false },
    pipelining: 1,
    keepAliveTimeout: KEEP_ALIVE_IDLE_MS,
    keepAliveMaxTimeout: KEEP_ALIVE_MAX_MS,
    keepAliveTimeoutThreshold: KEEP_ALIVE_MARGIN_MS,
  });
}

const destroyClient = (client: Client): Promise<void> => client.destroy(CLIENT_DONE);
/**
 * Retires a cached client gracefully: a timed-out probe evicts only after the runner has already
 * answered, and the next probe of the target may have queued its request on this client by then.
 * Those requests still finish (they carry their own deadline); no new ones are accepted.
 */
const retireClient = (client: Client): Promise<void> => client.close();

/** One request. `own` is false on a redirect to another origin: no custom headers, Host or SNI override go there. */
async function send(client: Client, path: string, own: boolean, ctx: CheckContext<Options>, plan: Plan): Promise<Response> {
  const o = ctx.options;
  // The runner aborts at the deadline; these make undici give up by then too instead of its 300 s defaults.
  const remainingMs = Math.max(1, Math.floor(ctx.deadline - performance.now()));
  const request: RequestOptions = {
    path,
    method: o.method,
    // undici only reads the list; it is frozen and shared between probes.
    headers: (own ? plan.ownHeaders : FOREIGN_HEADERS) as string[],
    signal: ctx.signal,
    headersTimeout: remainingMs,
    bodyTimeout: remainingMs,
    reset: !plan.keepAlive,
  };
  // Per request, because undici would otherwise take the SNI and verify name from a Host override.
  if (own && o.servername !== undefined) request.servername = o.servername;
  const res = await client.request(request);
  // We may destroy the body unread; undici then emits an error nobody else listens for.
  res.body.on('error', ignore);
  return res;
}

/**
 * Follows the redirects `first` leads to, within `maxRedirects`; returns the final response and
 * the hop count. Clients it opens for other origins go into `owned`.
 */
async function follow(ctx: CheckContext<Options>, plan: Plan, home: string, main: Client, first: Response, owned: Client[]): Promise<[Response, number]> {
  const o = ctx.options;
  const homeOrigin = new URL(home).origin;
  let url = new URL(o.path, home);
  let res = first;
  for (let hops = 0; ; hops++) {
    const location = res.headers.location;
    if (hops >= o.maxRedirects || !REDIRECT_STATUSES.has(res.statusCode) || typeof location !== 'string') return [res, hops];
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return [res, hops];
    res.body.destroy();
    url = next;
    const own = url.origin === homeOrigin;
    let client = main;
    if (!own) owned.push((client = createClient(url.origin, o)));
    res = await send(client, url.pathname + url.search, own, ctx, plan);
  }
}

/**
 * Reads and discards the body, stopping at `maxBytes`: no decoder, no iterator. Still rejects when
 * the body fails (a connection reset mid-body), which `body.dump()` would swallow.
 */
function drain(body: Readable, maxBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let size = 0;
    body
      .on('error', reject)
      .on('end', resolve)
      .on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size < maxBytes) return;
        body.destroy();
        resolve();
      });
  });
}

/** Reads at most `maxBytes`, stopping early once `matches` holds. Leaving the loop early destroys the body. */
async function readBody(body: Readable, maxBytes: number, matches: Matcher): Promise<{ text: string; matched: boolean }> {
  const decoder = new StringDecoder('utf8');
  let text = '';
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const part = chunk.subarray(0, maxBytes - size);
    size += part.length;
    text += decoder.write(part);
    if (matches(text)) return { text, matched: true };
    if (size >= maxBytes) break;
  }
  text += decoder.end();
  return { text, matched: matches(text) };
}

function statusLine(statusCode: number, statusText: string, hops: number): string {
  return `HTTP ${statusCode}${statusText ? ` ${statusText}` : ''}${hops > 0 ? ` after ${hops} redirect(s)` : ''}`;
}

/** The verdict on a status outside expectStatus (fail when also in failStatus, else fail-now). */
function statusFailure(statusCode: number, line: string, plan: Plan): CheckOutcome {
  const status = inRanges(statusCode, plan.options.failStatus) ? 'fail' : 'fail-now';
  return { status, reason: 'status', detail: `${line}, expected ${plan.expected}`, facts: { httpStatus: statusCode } };
}

/**
 * The ok outcome for a status line, one frozen object per status and plan while the line stays
 * the same: a healthy target answers the same line to every probe, and a new outcome (with its
 * facts) per probe was pure garbage.
 */
function healthyOutcome(plan: Plan, statusCode: number, line: string): CheckOutcome {
  let outcome = plan.healthy.get(statusCode);
  if (outcome === undefined || outcome.detail !== line) {
    const reason = plan.matches ? 'matched' : 'responded';
    outcome = Object.freeze({ status: 'ok', reason, detail: line, facts: Object.freeze({ httpStatus: statusCode }) } as const);
    plan.healthy.set(statusCode, outcome);
  }
  return outcome;
}

/** The verdict on an expected status once the body was read (and, with a body rule, judged). */
function bodyVerdict(statusCode: number, line: string, plan: Plan, text: string, matched: boolean): CheckOutcome {
  if (!plan.matches || matched) return healthyOutcome(plan, statusCode, line);
  const facts = { httpStatus: statusCode };
  return { status: 'fail', reason: 'mismatch', detail: `${line}, body did not match; read ${excerpt(text)}`, facts };
}

async function judge(res: Response, plan: Plan, hops: number): Promise<CheckOutcome> {
  const o = plan.options;
  const line = statusLine(res.statusCode, res.statusText, hops);
  if (!inRanges(res.statusCode, o.expectStatus)) {
    // The verdict is known; do not wait for a body nobody reads.
    res.body.destroy();
    return statusFailure(res.statusCode, line, plan);
  }
  const { matches } = plan;
  if (!matches) {
    // Read even without a body check, so a response cut short counts as a reset.
    await drain(res.body, o.maxBodyBytes);
    return bodyVerdict(res.statusCode, line, plan, '', false);
  }
  const { text, matched } = await readBody(res.body, o.maxBodyBytes, matches);
  return bodyVerdict(res.statusCode, line, plan, text, matched);
}

/**
 * The fresh-connection probe over plain HTTP without redirects: one request on a new connection
 * (src/health/http1-exchange.ts), judged by the same rules as the undici path. Built
 * once per target and options; a probe adds only its own context.
 */
function exchangeSpec(plan: Plan, target: Target, hostPort: string): ExchangeSpec {
  const o = plan.options;
  return {
    connect: connectOptions(target.host, target.port, 0),
    rawFamily: rawFamily(target.host, 0),
    request: requestHead(plan, hostPort),
    connectTimeoutMs: o.connectTimeoutMs,
    head: o.method === 'HEAD',
    wantsBody: plan.wantsBody,
    maxBodyBytes: o.maxBodyBytes,
    matches: plan.matches,
    verdict: plan.verdict,
    failure: plan.failure,
  };
}

function freshVerdict(plan: Plan, statusCode: number, statusText: string, text: string, matched: boolean): CheckOutcome {
  const line = statusLine(statusCode, statusText, 0);
  if (!inRanges(statusCode, plan.options.expectStatus)) return statusFailure(statusCode, line, plan);
  return bodyVerdict(statusCode, line, plan, text, matched);
}

/** One request through undici: kept-alive client from the resource cache, or a fresh one; redirects when asked. */
async function viaUndici(ctx: CheckContext<Options>, plan: Plan, at: Endpoint): Promise<CheckOutcome> {
  const o = ctx.options;
  const fresh = plan.keepAlive ? undefined : createClient(at.origin, o);
  const main = fresh ?? ctx.resources.use(at.key, at.create, retireClient);
  /** Clients opened for other origins while following redirects. */
  let others: Client[] | undefined;
  try {
    const res = await send(main, o.path, true, ctx, plan);
    if (!o.followRedirects) return await judge(res, plan, 0);
    const [last, hops] = await follow(ctx, plan, at.origin, main, res, (others = []));
    return await judge(last, plan, hops);
  } catch (err) {
    // After a socket error the next probe starts from a new client. An abort is no fault of the
    // client (undici already dropped the socket of the aborted request), so it stays.
    if (!fresh && !ctx.signal.aborted) await ctx.resources.evict(at.key, main);
    return failureOf(err, o);
  } finally {
    if (others?.length) await Promise.all((fresh ? [fresh, ...others] : others).map(destroyClient));
    else if (fresh) await destroyClient(fresh);
  }
}

export default defineChecker({
  type: 'http',
  description: 'Sends one HTTP(S) GET or HEAD and checks the status and, optionally, the body.',
  options,
  check(ctx) {
    const plan = planOf(ctx.options);
    const at = endpointOf(plan, ctx.target);
    // The minimal path never reads ctx.signal: the runner then makes no AbortController for it.
    return at.exchange ? exchange(at.exchange, ctx) : viaUndici(ctx, plan, at);
  },
});
