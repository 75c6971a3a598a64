/**
 * Forwarding of ephemeral writes (registration, deregistration, beat) to the node responsible for
 * the instance: the node holding the lease of its shard. Nacos clients send to whichever server of
 * their list they pick, so any node may receive them; only the responsible node decides.
 *
 * One hop: the request is replayed to the owner with every parameter in the query string (form
 * bodies merged, the query winning, as the routes read them; a JSON body of the native API as it
 * was parsed), the client's credentials passed on,
 * and signed with the cluster secret (`x-vigil-forwarded`, peer-auth.ts). The owner handles a signed
 * forwarded request itself, whatever its own view of ownership, so a request is never forwarded
 * twice. The client gets the owner's answer, status, body and error code as they are.
 *
 * A forwarded request without a valid signature is refused (401 `VIGIL_ERR_CLUSTER_UNAUTHORIZED`)
 * before any handler runs. When the owner cannot be reached (killed, cut off) or no node holds the
 * shard (between owners), the receiving node answers itself: the beat is remembered there and
 * counts if that node takes the shard over (beat-module.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { Peer } from './broadcaster.js';
import { signPeerRequest, verifyPeerRequest } from './peer-auth.js';

export const FORWARDED_HEADER = 'x-vigil-forwarded';

/** Headers of the client's request that go with it: its credentials. */
const PASSED_ON = ['authorization', 'accesstoken'] as const;
/** Headers of the owner's answer the client sees. */
const RELAYED = ['content-type', 'x-vigil-error-code'] as const;

export interface ForwarderOptions {
  readonly nodeId: string;
  readonly secret: string;
  /** The node responsible for `key` now (cluster-node.ts `ownerOf`). */
  readonly ownerOf: (key: string) => Peer | undefined;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

export interface ForwardCounters {
  /** Requests answered by the responsible node through this one. */
  forwarded: number;
  /** Forwarding failed (owner unreachable): answered here. */
  failed: number;
  /** Forwarded requests this node handled as the responsible node. */
  received: number;
  /** Requests claiming to be forwarded without a valid signature. */
  refused: number;
}

export interface Forwarder {
  /**
   * Sends the request for `key` to its responsible node and relays the answer; false when this
   * node must answer itself (it is responsible, the request was forwarded to it, or the owner is
   * unreachable or unknown).
   */
  forward(key: string, req: FastifyRequest, reply: FastifyReply): Promise<boolean>;
  /** Refuses unsigned forwarded requests on every route; call before the routes are registered. */
  install(app: FastifyInstance): void;
  readonly counters: Readonly<ForwardCounters>;
  close(): Promise<void>;
}

const asParams = (bag: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (bag === null || typeof bag !== 'object') return out;
  for (const [k, v] of Object.entries(bag as Record<string, unknown>)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
  return out;
};

const isJson = (req: FastifyRequest): boolean => req.body !== undefined && req.body !== null && typeof req.body === 'object' && /json/i.test(req.headers['content-type'] ?? '');

export function createForwarder(opts: ForwarderOptions): Forwarder {
  const agent = new Agent({ connect: { timeout: opts.timeoutMs }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, keepAliveTimeout: 30_000 });
  const forwardedRequests = new WeakSet<FastifyRequest>();
  const counters: ForwardCounters = { forwarded: 0, failed: 0, received: 0, refused: 0 };
  // One log line per streak of failures to the same owner, not one per beat.
  let failingOwner: string | undefined;

  async function forward(key: string, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (forwardedRequests.has(req)) return false;
    const owner = opts.ownerOf(key);
    if (owner === undefined || owner.nodeId === opts.nodeId) return false;
    // A JSON body (native API) goes as it was parsed; Nacos parameters (query or form) in the query string.
    const json = isJson(req) ? JSON.stringify(req.body) : undefined;
    const target = new URL(json === undefined ? req.url.split('?')[0]! : req.url, owner.url);
    if (json === undefined) for (const [k, v] of Object.entries({ ...asParams(req.body), ...asParams(req.query) })) target.searchParams.set(k, v);
    const path = target.pathname + target.search;
    const headers: Record<string, string> = {
      [FORWARDED_HEADER]: '1',
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      ...signPeerRequest(opts.secret, opts.nodeId, { method: req.method, path, body: json ?? '' }),
    };
    for (const h of PASSED_ON) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    try {
      const res = await request(target, { method: req.method as 'PUT', headers, dispatcher: agent, ...(json === undefined ? {} : { body: json }) });
      const body = await res.body.text();
      if (failingOwner === owner.nodeId) opts.logger.info({ owner: owner.nodeId }, 'forwarding to the responsible node works again');
      failingOwner = undefined;
      counters.forwarded++;
      reply.code(res.statusCode);
      for (const h of RELAYED) {
        const v = res.headers[h];
        if (typeof v === 'string') reply.header(h, v);
      }
      await reply.send(body);
      return true;
    } catch (err) {
      counters.failed++;
      if (failingOwner !== owner.nodeId) {
        failingOwner = owner.nodeId;
        opts.logger.warn({ owner: owner.nodeId, url: owner.url, err: (err as { code?: string }).code ?? (err as Error).message }, 'cannot forward to the responsible node; answering here until it is back or replaced');
      }
      return false;
    }
  }

  function install(app: FastifyInstance): void {
    // preValidation: after routing and body parsing, like the access gate; before any handler.
    app.addHook('preValidation', async (req, reply) => {
      if (req.headers[FORWARDED_HEADER] === undefined) return;
      const length = Number(req.headers['content-length'] ?? 0);
      // The signature covers the body as the sender serialised its parsed JSON; parsing and
      // serialising again gives the same text. Any other body is never forwarded.
      const json = isJson(req) ? JSON.stringify(req.body) : undefined;
      const verdict = length > 0 && json === undefined
        ? { ok: false as const, field: 'body', message: 'a forwarded request carries JSON or its parameters in the query string' }
        : verifyPeerRequest(opts.secret, req.headers, { method: req.method, path: req.url, body: json ?? '' });
      if (!verdict.ok) {
        counters.refused++;
        await reply
          .code(401)
          .header('x-vigil-error-code', 'VIGIL_ERR_CLUSTER_UNAUTHORIZED')
          .send({ code: 'VIGIL_ERR_CLUSTER_UNAUTHORIZED', message: verdict.message, field: verdict.field });
        return reply;
      }
      counters.received++;
      forwardedRequests.add(req);
      return;
    });
  }

  return { forward, install, counters, close: () => agent.close() };
}
