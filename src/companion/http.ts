/**
 * One request to the Nacos server: rate-limited, with an explicit deadline covering connect,
 * headers and body (undici's own defaults wait minutes), over keep-alive connections, failing over
 * to the next address of `serverAddr` after a network failure. Every outcome that is not a 2xx
 * answer becomes a NacosCallError whose `kind` says what the caller should do about it.
 */
import { Agent, request } from 'undici';
import { VigilError } from '../errors.js';
import type { RateLimiter } from './rate-limit.js';

export type CallErrorKind = 'unreachable' | 'timeout' | 'auth' | 'client-error' | 'server-error' | 'malformed';

export class NacosCallError extends Error {
  override name = 'NacosCallError';
  constructor(
    readonly kind: CallErrorKind,
    message: string,
    readonly server: string,
    readonly status?: number,
    readonly body?: string,
  ) {
    super(message);
  }
}

export type Params = Readonly<Record<string, string | number | boolean | undefined>>;

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
  readonly server: string;
}

export interface NacosHttp {
  /** Sends `params` in the query string (as the Nacos clients do) or, with `form`, as a form body. */
  call(method: 'GET' | 'POST' | 'PUT', path: string, params: Params, form?: boolean): Promise<HttpAnswer>;
  /** The address requests go to now. */
  readonly server: string;
  close(): Promise<void>;
}

export interface HttpDeps {
  readonly servers: readonly string[];
  readonly timeoutMs: number;
  readonly limiter: RateLimiter;
  /** Most connections kept open to one server. */
  readonly connections?: number;
}

/**
 * `host:port[,host:port…]` → base URLs; a bare host gets Nacos's port 8848. An entry that is not a
 * host with an optional port (or an http(s) URL) is a configuration error naming the field.
 */
export function parseServerAddr(addr: string, field = 'source.nacos.serverAddr'): string[] {
  const servers = addr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const withScheme = /^https?:\/\//.test(s) ? s : `http://${s}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `${field}: "${s}" is not host:port`, field);
      }
      if (url.hostname === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
        throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `${field}: "${s}" is not host:port`, field);
      }
      if (withScheme === s) return `${url.protocol}//${url.host}`;
      // URL drops a port that is the scheme's default (80): read what was written.
      const port = /:(\d+)$/.exec(s)?.[1];
      return `http://${url.hostname}:${port === undefined ? '8848' : Number(port)}`;
    });
  if (servers.length === 0) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `${field}: no host:port given`, field);
  return servers;
}

function encode(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return q.toString();
}

export function createNacosHttp(deps: HttpDeps): NacosHttp {
  const agent = new Agent({ connections: deps.connections ?? 4, keepAliveTimeout: 30_000, connectTimeout: deps.timeoutMs });
  let current = 0;
  const serverNow = (): string => deps.servers[current % deps.servers.length]!;

  async function call(method: 'GET' | 'POST' | 'PUT', path: string, params: Params, form = false): Promise<HttpAnswer> {
    await deps.limiter.wait();
    const server = serverNow();
    const query = encode(params);
    const url = form || query === '' ? `${server}${path}` : `${server}${path}?${query}`;
    const ac = new AbortController();
    // setTimeout, not AbortSignal.timeout: tests may drive time with fake timers.
    const timer = setTimeout(() => ac.abort(), deps.timeoutMs);
    try {
      const res = await request(url, {
        method,
        dispatcher: agent,
        signal: ac.signal,
        headersTimeout: deps.timeoutMs,
        bodyTimeout: deps.timeoutMs,
        headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
        ...(form ? { body: query } : {}),
      });
      const text = await res.body.text();
      return { status: res.statusCode, text, server };
    } catch (err) {
      // The next request tries the next address; this one reports the failure.
      current++;
      const e = err as { name?: string; code?: string; message?: string };
      const timedOut = ac.signal.aborted || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT';
      if (timedOut) throw new NacosCallError('timeout', `${server} did not answer ${method} ${path} within ${deps.timeoutMs} ms`, server);
      throw new NacosCallError('unreachable', `${server} unreachable (${e.code ?? e.message ?? 'error'})`, server);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    call,
    get server() {
      return serverNow();
    },
    close: () => agent.close(),
  };
}
