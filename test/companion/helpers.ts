/**
 * Helpers for the companion tests: the registry is a second real vigil process serving its Nacos
 * API with its own checks switched off, so every health change it shows came from the companion.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { api, removeDir, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { listen } from '../helpers/servers.js';

export const NS = '/nacos/v1/ns';

/** Fast probing so a test sees flips within a second or two; a generous timeout, so a loaded machine does not make a reachable target look down. */
export const FAST_CHECKS = { intervalMs: 1000, timeoutMs: 800, fastIntervalMs: 100, downIntervalMs: 300 };

export function startRegistry(config: Record<string, unknown> = {}): Promise<Daemon> {
  return startDaemon({ config: { checks: { enabled: false }, ...config } });
}

export function hostPort(url: string): string {
  return new URL(url).host;
}

export function startCompanion(registryUrl: string, nacos: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<Daemon> {
  return startDaemon({
    config: {
      checks: FAST_CHECKS,
      source: { nacos: { serverAddr: hostPort(registryUrl), pollIntervalMs: 300, requestTimeoutMs: 1000, ...nacos } },
      ...config,
    },
  });
}

/** One Nacos call with every parameter in the query string, as the npm client sends them. */
export async function nacosCall(url: string, method: string, path: string, params: Record<string, string | number | boolean>): Promise<{ status: number; text: string }> {
  const u = new URL(`${NS}${path}`, url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
  const res = await fetch(u, { method });
  return { status: res.status, text: await res.text() };
}

export async function register(url: string, service: string, port: number, opts: { ephemeral?: boolean; cluster?: string; metadata?: Record<string, string> } = {}): Promise<void> {
  const r = await nacosCall(url, 'POST', '/instance', {
    serviceName: `DEFAULT_GROUP@@${service}`,
    groupName: 'DEFAULT_GROUP',
    clusterName: opts.cluster ?? 'DEFAULT',
    ip: '127.0.0.1',
    port,
    weight: 1,
    enable: true,
    healthy: true,
    ephemeral: opts.ephemeral ?? false,
    namespaceId: 'public',
    ...(opts.metadata ? { metadata: JSON.stringify(opts.metadata) } : {}),
  });
  if (r.status !== 200) throw new Error(`register ${service}:${port} answered ${r.status} ${r.text}`);
}

export interface Seen {
  readonly healthy: boolean;
  readonly version: number;
  readonly decidedBy: string;
  readonly ephemeral: boolean;
  readonly metadata: Record<string, string>;
}

/** Instances of a vigil (registry or companion) by `service:port`. */
export async function instancesOf(url: string): Promise<Map<string, Seen>> {
  const { body } = await api(url, 'GET', '/v1/instances');
  const out = new Map<string, Seen>();
  for (const i of body.instances) {
    out.set(`${i.service}:${i.port}`, { healthy: i.health.healthy, version: i.health.version, decidedBy: i.health.decidedBy, ephemeral: i.ephemeral, metadata: i.metadata });
  }
  return out;
}

export async function healthOf(url: string, service: string, port: number): Promise<boolean | undefined> {
  return (await instancesOf(url)).get(`${service}:${port}`)?.healthy;
}

export async function statusOf(url: string): Promise<any> {
  return (await api(url, 'GET', '/v1/companion')).body;
}

/** A TCP target that can be taken down and brought back on the same port. */
export interface SwitchableTarget {
  readonly port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function switchableTcp(): Promise<SwitchableTarget> {
  let server: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  const open = async (port: number): Promise<number> => {
    server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => sockets.delete(s));
    });
    return listen(server, port);
  };
  const port = await open(0);
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const sock of sockets) sock.destroy();
    await closed;
  };
  return {
    port,
    down,
    async up() {
      if (!server) await open(port);
    },
    close: down,
  };
}

export interface LocalCompanion {
  readonly url: string;
  readonly app: App;
  /** Log lines so far, parsed. */
  logs(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** A companion in this process (for the tests that count its log lines). */
export async function startLocalCompanion(serverAddr: string, nacos: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<LocalCompanion> {
  const dir = tempDir('vigil-companion-');
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const config = parseConfig({
    api: { host: '127.0.0.1', port: 0 },
    store: { dataDir: dir, synchronous: 'normal' },
    checks: FAST_CHECKS,
    source: { nacos: { serverAddr, pollIntervalMs: 200, requestTimeoutMs: 1000, ...nacos } },
  });
  const app = buildApp(config, { logger: pino({ level: 'info' }, sink), env });
  let url: string;
  try {
    ({ url } = await app.start());
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  return {
    url,
    app,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop() {
      await app.stop();
      removeDir(dir);
    },
  };
}

/** Log lines that report a condition of `kind` (warn level). */
export function conditionLines(c: LocalCompanion, kind: string): Array<Record<string, unknown>> {
  return c.logs().filter((l) => l.condition === kind && l.level === 40);
}
