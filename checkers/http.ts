/**
 * HTTP(S) probe: one request (plus, when asked, the redirects it leads to), judged by status and
 * optionally by what the body contains. By default one keep-alive undici Client per target is
 * reused between probes through the framework's resource cache; `connection: 'fresh'` opens and
 * closes a connection per probe instead.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Client, type Dispatcher } from 'undici';
import { z } from 'zod';
import { classifyError } from '../src/health/classify.js';
import { defineChecker, type CheckContext, type CheckOutcome } from '../src/health/contract.js';
import { targetKey } from '../src/health/resources.js';

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
type Matcher = (text: string) => boolean;

function toRange(item: number | string): Range {
  if (typeof item === 'number') return [item, item];
  const [, lo = '', hi = lo] = STATUS_PATTERN.exec(item) ?? [];
  return [Number(lo), Number(hi)];
}

/** Status numbers and `NNN-NNN` ranges, as an array or one comma-separated string (`"200-299,404"`). */
function statusList(minItems: number) {
  return z
    .preprocess(
      (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : typeof v === 'number' ? [v] : v),
      z.array(z.union([z.number().int().min(100).max(599), z.string().regex(STATUS_PATTERN, 'expected NNN or NNN-NNN')])).min(minItems),
    )
    .transform((items) => items.map(toRange))
    .refine((ranges) => ranges.every(([lo, hi]) => lo <= hi), { error: 'a range must run from low to high' });
}

function compiles(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const options = z
  .strictObject({
    scheme: z.enum(['http', 'https']).default('http'),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    path: z.string().regex(/^\/[^\s]*$/, 'must start with / and contain no whitespace').default('/'),
    headers: z
      .record(z.string().regex(HEADER_NAME, 'not a valid header name'), z.string().regex(/^[^\r\n\0]*$/, 'no line breaks'))
      .refine((h) => Object.keys(h).every((k) => k.toLowerCase() !== 'host'), { error: 'set the Host header with the host option' })
      .default({}),
    host: z.string().regex(/^[^\s/]+$/, 'a host name, optionally with :port').optional(),
    expectStatus: statusList(1).prefault(['200-299']),
    failStatus: statusList(0).prefault([302, 503]),
    bodyContains: z.string().min(1).optional(),
    bodyRegex: z.string().min(1).refine(compiles, { error: 'not a valid regular expression' }).optional(),
    maxBodyBytes: z.number().int().positive().max(16_777_216).default(65_536),
    followRedirects: z.boolean().default(false),
    maxRedirects: z.number().int().min(1).max(20).default(3),
    connectTimeoutMs: z.number().int().positive().default(1000),
    tlsVerify: z.boolean().default(true),
    servername: z.string().min(1).optional(),
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

const inRanges = (status: number, ranges: readonly Range[]): boolean => ranges.some(([lo, hi]) => status >= lo && status <= hi);
const formatRanges = (ranges: readonly Range[]): string => ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
const excerpt = (text: string): string => JSON.stringify(text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}…` : text);

function matcherOf(o: Options): Matcher | undefined {
  const { bodyContains, bodyRegex } = o;
  if (bodyContains !== undefined) return (text) => text.includes(bodyContains);
  if (bodyRegex !== undefined) {
    const re = new RegExp(bodyRegex);
    return (text) => re.test(text);
  }
  return undefined;
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

const destroyClient = (client: Client): Promise<void> => client.destroy();
/**
 * Retires a cached client gracefully: a timed-out probe evicts only after the runner has already
 * answered, and the next probe of the target may have queued its request on this client by then.
 * Those requests still finish (they carry their own deadline); no new ones are accepted.
 */
const retireClient = (client: Client): Promise<void> => client.close();

/** One request. `own` is false on a redirect to another origin: no custom headers, Host or SNI override go there. */
async function send(client: Client, path: string, own: boolean, ctx: CheckContext<Options>): Promise<Response> {
  const o = ctx.options;
  // The runner aborts at the deadline; these make undici give up by then too instead of its 300 s defaults.
  const remainingMs = Math.max(1, Math.floor(ctx.deadline - performance.now()));
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  if (own) for (const [k, v] of Object.entries(o.headers)) headers[k.toLowerCase()] = v;
  if (own && o.host !== undefined) headers.host = o.host;
  const request = {
    path,
    method: o.method,
    headers,
    signal: ctx.signal,
    headersTimeout: remainingMs,
    bodyTimeout: remainingMs,
    reset: o.connection === 'fresh',
    // Per request, because undici would otherwise take the SNI and verify name from a Host override.
    ...(own && o.servername !== undefined ? { servername: o.servername } : {}),
  };
  const res = await client.request(request);
  // We may destroy the body unread; undici then emits an error nobody else listens for.
  res.body.on('error', () => {});
  return res;
}

/** Sends the request and, when asked, follows redirects; returns the final response and the hop count. */
async function follow(ctx: CheckContext<Options>, home: string, main: Client, open: (origin: string) => Client): Promise<[Response, number]> {
  const o = ctx.options;
  let url = new URL(o.path, home);
  let res = await send(main, o.path, true, ctx);
  for (let hops = 0; ; hops++) {
    const location = res.headers.location;
    if (!o.followRedirects || hops >= o.maxRedirects || !REDIRECT_STATUSES.has(res.statusCode) || typeof location !== 'string') {
      return [res, hops];
    }
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return [res, hops];
    res.body.destroy();
    url = next;
    const own = url.origin === new URL(home).origin;
    res = await send(own ? main : open(url.origin), url.pathname + url.search, own, ctx);
  }
}

/** Reads at most `maxBytes`, stopping early once `matches` holds. Leaving the loop early destroys the body. */
async function readBody(body: Readable, maxBytes: number, matches: Matcher | undefined): Promise<{ text: string; matched: boolean }> {
  const decoder = new StringDecoder('utf8');
  let text = '';
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const part = chunk.subarray(0, maxBytes - size);
    size += part.length;
    text += decoder.write(part);
    if (matches?.(text)) return { text, matched: true };
    if (size >= maxBytes) break;
  }
  text += decoder.end();
  return { text, matched: matches?.(text) ?? false };
}

async function judge(res: Response, o: Options, hops: number): Promise<CheckOutcome> {
  const facts = { httpStatus: res.statusCode };
  const line = `HTTP ${res.statusCode}${res.statusText ? ` ${res.statusText}` : ''}${hops > 0 ? ` after ${hops} redirect(s)` : ''}`;
  if (!inRanges(res.statusCode, o.expectStatus)) {
    // The verdict is known; do not wait for a body nobody reads.
    res.body.destroy();
    const status = inRanges(res.statusCode, o.failStatus) ? 'fail' : 'fail-now';
    return { status, reason: 'status', detail: `${line}, expected ${formatRanges(o.expectStatus)}`, facts };
  }
  const matches = matcherOf(o);
  // Read even without a body check, so a response cut short counts as a reset.
  const { text, matched } = await readBody(res.body, o.maxBodyBytes, matches);
  if (!matches) return { status: 'ok', reason: 'responded', detail: line, facts };
  if (matched) return { status: 'ok', reason: 'matched', detail: line, facts };
  return { status: 'fail', reason: 'mismatch', detail: `${line}, body did not match; read ${excerpt(text)}`, facts };
}

export default defineChecker({
  type: 'http',
  description: 'Sends one HTTP(S) GET or HEAD and checks the status and, optionally, the body.',
  options,
  async check(ctx) {
    const o = ctx.options;
    const { host, port } = ctx.target;
    const origin = `${o.scheme}://${targetKey(host, port)}`;
    const key = `${targetKey(host, port)}|${o.scheme}|${o.servername ?? ''}|${o.tlsVerify}`;
    const keepAlive = o.connection === 'keepalive';
    const owned: Client[] = [];
    const open = (at: string): Client => {
      const client = createClient(at, o);
      owned.push(client);
      return client;
    };
    const main = keepAlive ? ctx.resources.use(key, () => createClient(origin, o), retireClient) : open(origin);
    try {
      const [res, hops] = await follow(ctx, origin, main, open);
      return await judge(res, o, hops);
    } catch (err) {
      // After a socket error the next probe starts from a new client. An abort is no fault of the
      // client (undici already dropped the socket of the aborted request), so it stays.
      if (keepAlive && !ctx.signal.aborted) await ctx.resources.evict(key, main);
      return classifyError(err);
    } finally {
      await Promise.all(owned.map(destroyClient));
    }
  },
});
