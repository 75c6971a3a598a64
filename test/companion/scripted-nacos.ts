/**
 * A small Nacos server on loopback that answers the calls a companion makes the way Nacos does,
 * including what vigil's own API never does: refusing external health for a cluster whose health
 * checker is not NONE, requiring a login and forgetting tokens, listing its namespaces the way the
 * console API does, and — on demand — malformed answers. For the tests of conditions a real vigil
 * registry cannot produce. `listen()` opens further ports onto the same server, and every request
 * records the port it came in on, so several companions each given their own port can be told apart.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startHttpServer, type TestServer } from '../helpers/servers.js';

export interface ScriptedHost {
  ip: string;
  port: number;
  healthy: boolean;
  ephemeral: boolean;
  clusterName: string;
}

export interface ScriptedService {
  clusters: Map<string, { type: string }>;
  hosts: ScriptedHost[];
}

export interface ScriptedNacos {
  readonly url: string;
  readonly server: TestServer;
  /** The services of the public namespace. */
  readonly services: Map<string, ScriptedService>;
  /** Further namespaces by id, each with its services. */
  readonly namespaces: Map<string, Map<string, ScriptedService>>;
  /** How `GET /nacos/v1/console/namespaces` answers: the list (public as ""), 403, or 404. */
  consoleNamespaces: 'list' | 'forbidden' | 'missing';
  /** Every request: method, path, its parameters and the local port it came in on. */
  readonly requests: Array<{ method: string; path: string; params: URLSearchParams; port: number }>;
  /** Opens one more port onto this server; resolves with its URL. */
  listen(): Promise<string>;
  readonly logins: number;
  /** Services whose `instance/list` answer is malformed. */
  readonly malformed: Set<string>;
  /** Ports whose health write answers 404 (deregistered between a read and a write). */
  readonly gone: Set<number>;
  revokeTokens(): void;
  close(): Promise<void>;
}

export interface ScriptedOptions {
  readonly user?: { username: string; password: string; tokenTtl: number };
}

async function paramsOf(req: IncomingMessage, url: URL): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += chunk;
  const p = new URLSearchParams(body);
  for (const [k, v] of url.searchParams) p.set(k, v);
  return p;
}

export async function startScriptedNacos(opts: ScriptedOptions = {}): Promise<ScriptedNacos> {
  const services = new Map<string, ScriptedService>();
  const namespaces = new Map<string, Map<string, ScriptedService>>();
  const extra: TestServer[] = [];
  const requests: ScriptedNacos['requests'] = [];
  const malformed = new Set<string>();
  const gone = new Set<number>();
  let tokens = new Set<string>();
  let logins = 0;

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = await paramsOf(req, url);
    const path = url.pathname.replace('/nacos/v1', '');
    requests.push({ method: req.method ?? '', path, params: p, port: req.socket.localPort ?? 0 });
    if (path === '/auth/users/login') {
      const u = opts.user;
      if (!u || p.get('username') !== u.username || p.get('password') !== u.password) return send(res, 403, 'unknown user!');
      logins++;
      const token = `token-${logins}`;
      tokens.add(token);
      return send(res, 200, { accessToken: token, tokenTtl: u.tokenTtl, globalAdmin: false });
    }
    if (opts.user && !tokens.has(p.get('accessToken') ?? '')) return send(res, 403, 'token invalid!');
    if (path === '/console/namespaces') {
      if (scripted.consoleNamespaces === 'forbidden') return send(res, 403, 'authorization failed!');
      if (scripted.consoleNamespaces === 'missing') return send(res, 404, 'not found');
      const data = [{ namespace: '', namespaceShowName: 'public', quota: 200, configCount: 0, type: 0 }];
      for (const id of namespaces.keys()) data.push({ namespace: id, namespaceShowName: id, quota: 200, configCount: 0, type: 2 });
      return send(res, 200, { code: 200, message: null, data });
    }
    const nsId = p.get('namespaceId') ?? 'public';
    const inNs = nsId === 'public' ? services : (namespaces.get(nsId) ?? new Map<string, ScriptedService>());
    const name = (p.get('serviceName') ?? '').replace(/^DEFAULT_GROUP@@/, '');
    const svc = inNs.get(name);
    if (path === '/ns/service/list') {
      const size = Number(p.get('pageSize') ?? 10);
      const page = Number(p.get('pageNo') ?? 1);
      return send(res, 200, { count: inNs.size, doms: [...inNs.keys()].slice((page - 1) * size, page * size) });
    }
    if (path === '/ns/service') {
      if (!svc) return send(res, 400, `service not found: ${name}`);
      return send(res, 200, { name, clusters: [...svc.clusters].map(([n, hc]) => ({ name: n, healthChecker: hc, metadata: {} })) });
    }
    if (path === '/ns/instance/list') {
      if (malformed.has(name)) return send(res, 200, { hosts: 'not a list' });
      return send(res, 200, { name: `DEFAULT_GROUP@@${name}`, hosts: svc?.hosts ?? [] });
    }
    if (path === '/ns/health/instance' && req.method === 'PUT') {
      const host = svc?.hosts.find((h) => h.ip === p.get('ip') && String(h.port) === p.get('port'));
      if (!svc || !host || gone.has(host.port)) return send(res, 404, 'instance not found');
      if (svc.clusters.get(host.clusterName)?.type !== 'NONE') return send(res, 400, `health check is still working, service: DEFAULT_GROUP@@${name}`);
      host.healthy = p.get('healthy') === 'true';
      return send(res, 200, 'ok');
    }
    if (path === '/ns/cluster' && req.method === 'PUT') {
      if (!svc || !p.get('clusterName') || !p.get('checkPort') || !p.get('useInstancePort4Check')) return send(res, 400, 'missing parameter');
      svc.clusters.set(p.get('clusterName')!, JSON.parse(p.get('healthChecker') ?? '{}'));
      return send(res, 200, 'ok');
    }
    return send(res, 404, 'not found');
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res);
  const server = await startHttpServer(handler);
  const scripted: ScriptedNacos = {
    url: `http://127.0.0.1:${server.port}`,
    server,
    services,
    namespaces,
    consoleNamespaces: 'list',
    requests,
    async listen() {
      const more = await startHttpServer(handler);
      extra.push(more);
      return `http://127.0.0.1:${more.port}`;
    },
    get logins() {
      return logins;
    },
    malformed,
    gone,
    revokeTokens: () => (tokens = new Set()),
    async close() {
      for (const s of extra) await s.close();
      await server.close();
    },
  };
  return scripted;
}
