/**
 * Helpers for the Nacos tests: an in-process vigil on 127.0.0.1 port 0 with a private store, the
 * real `nacos` npm client pointed at it, and raw Nacos requests (query string, like the client).
 */
import { createRequire } from 'node:module';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { removeDir, tempDir, waitFor } from '../helpers/daemon.js';

export const NS = '/nacos/v1/ns';

export interface Vigil {
  readonly url: string;
  readonly port: number;
  readonly app: App;
  stop(): Promise<void>;
}

/** `config` is the YAML config as an object; api host and port, store and log are filled in. `now` is the daemon's clock. */
export async function startVigil(config: Record<string, unknown> = {}, opts: { now?: () => number } = {}): Promise<Vigil> {
  const dir = tempDir('vigil-nacos-');
  const api = { ...(config.api as object | undefined), host: '127.0.0.1', port: 0 };
  const app = buildApp(
    parseConfig({ ...config, api, store: { dataDir: dir, synchronous: 'normal' }, log: { level: 'silent' } }),
    { logger: pino({ level: 'silent' }), ...(opts.now ? { now: opts.now } : {}) },
  );
  const { url } = await app.start();
  return {
    url,
    port: Number(new URL(url).port),
    app,
    async stop() {
      await app.stop();
      removeDir(dir);
    },
  };
}

export interface NacosAnswer {
  readonly status: number;
  readonly text: string;
  readonly json: any;
  readonly code: string | null;
}

/** One Nacos call with every parameter in the query string, as the npm client sends them. */
export async function nacos(url: string, method: string, path: string, params: Record<string, string | number | boolean> = {}, body?: string): Promise<NacosAnswer> {
  const u = new URL(`${NS}${path}`, url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
  const res = await fetch(u, {
    method,
    ...(body !== undefined ? { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, code: res.headers.get('x-vigil-error-code') };
}

export async function list(url: string, service: string, extra: Record<string, string | number | boolean> = {}): Promise<any[]> {
  const r = await nacos(url, 'GET', '/instance/list', { serviceName: service, ...extra });
  if (r.status !== 200) throw new Error(`instance/list ${r.status}: ${r.text}`);
  return r.json.hosts as any[];
}

export async function beatStatus(url: string): Promise<any> {
  const res = await fetch(new URL('/v1/beat/status', url));
  return res.json();
}

/** The npm client's surface the tests use (its bundled types are incomplete). */
export interface NamingClient {
  ready(): Promise<void>;
  registerInstance(service: string, instance: Record<string, unknown>, group?: string): Promise<void>;
  deregisterInstance(service: string, instance: Record<string, unknown>, group?: string): Promise<void>;
  getAllInstances(service: string, group?: string, clusters?: string, subscribe?: boolean): Promise<any[]>;
  subscribe(info: string | { serviceName: string; groupName?: string; clusters?: string }, listener: (hosts: any[]) => void): void;
  getServerStatus(): Promise<'UP' | 'DOWN'>;
  close(): Promise<void>;
  on(event: 'error', fn: (err: Error) => void): void;
}

const quiet = { info() {}, warn() {}, error() {}, debug() {}, log() {} };
const require = createRequire(import.meta.url);

/** `credentials`: the client's own `username`/`password` options, sent on every call. */
export async function namingClient(vigil: { port: number }, credentials: { username: string; password: string } | object = {}): Promise<NamingClient> {
  const { NacosNamingClient } = require('nacos') as { NacosNamingClient: new (o: object) => NamingClient };
  const client = new NacosNamingClient({ logger: quiet, serverList: `127.0.0.1:${vigil.port}`, namespace: 'public', ...credentials });
  client.on('error', () => {});
  await client.ready();
  return client;
}

/** Resolves with the first value `fn` returns that is truthy, polling every `everyMs` (default 100). */
export const until = <T>(fn: () => Promise<T | undefined | false | null> | T | undefined | false | null, timeoutMs: number, everyMs = 100): Promise<T> =>
  waitFor(fn as () => Promise<T | undefined | false>, timeoutMs, everyMs);
