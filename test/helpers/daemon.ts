/**
 * Spawns real vigil daemons (the built CLI, `dist/src/cli/main.js start`) on a free port with a
 * private data folder, for tests that need a whole process: restarts, kill -9, SIGSTOP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';

// Compiled benchmarks import this helper from dist/test/helpers: the repository is one level up.
const ABOVE = resolve(import.meta.dirname, '../..');
export const REPO = basename(ABOVE) === 'dist' ? dirname(ABOVE) : ABOVE;
export const CLI = join(REPO, 'dist/src/cli/main.js');

/** Builds dist/ once if a test file runs before `npm test`'s own tsc step did. */
export function ensureBuilt(): void {
  if (!existsSync(CLI)) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'inherit' });
}

export interface Daemon {
  readonly url: string;
  readonly proc: ChildProcess;
  readonly dataDir: string;
  /** Everything the daemon wrote to stdout/stderr so far. */
  output(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export interface DaemonOptions {
  readonly dataDir?: string;
  /** Written as the config file (JSON is valid YAML). */
  readonly config?: Record<string, unknown>;
  readonly port?: number;
  /** More `vigil start` arguments (e.g. `--store`, `--node-id`). */
  readonly args?: readonly string[];
  /** Added to the child's environment (e.g. VIGIL_CLUSTER_SECRET). */
  readonly env?: Readonly<Record<string, string>>;
  /** Node's own options before the script (e.g. `--cpu-prof`, which NODE_OPTIONS does not take). */
  readonly nodeArgs?: readonly string[];
}

export function tempDir(prefix = 'vigil-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  ensureBuilt();
  const dataDir = opts.dataDir ?? tempDir();
  const args = [...(opts.nodeArgs ?? []), CLI, 'start', '--port', String(opts.port ?? 0), '--data', dataDir];
  if (opts.config) {
    const file = join(dataDir, '..', `vigil-config-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, JSON.stringify(opts.config));
    args.push('--config', file);
  }
  args.push(...(opts.args ?? []));
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const onData = () => {
      const m = /vigil: listening on (\S+)\n/.exec(out);
      if (m) {
        proc.stderr!.off('data', onData);
        resolveUrl(m[1]!);
      }
    };
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`vigil exited with ${code} before starting:\n${out}`)));
  });
  const exited = once(proc, 'exit');
  return {
    url,
    proc,
    dataDir,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** JSON over HTTP to a daemon; returns status and parsed body. */
export async function api(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
