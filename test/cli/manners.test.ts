/**
 * The built CLI as a newcomer meets it: one line per error (the stack only with --debug), --help on
 * every command, --version, one daemon per data directory, and a taken port refused before the
 * store is opened.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO, ensureBuilt, removeDir, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { listen } from '../helpers/servers.js';

const run = promisify(execFile);

/** Runs `vigil ARGS`; resolves with exit code and output, whatever the code. */
async function vigil(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const STACK = /^\s+at /m;
const dirs: string[] = [];

beforeAll(() => ensureBuilt());
afterAll(() => dirs.forEach(removeDir));

describe('vigil CLI manners', () => {
  it('prints its version', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const { code, stdout } = await vigil('--version');
    expect(code).toBe(0);
    expect(stdout).toBe(`vigil ${pkg.version}\n`);
  });

  it.each(['start', 'status', 'check', 'checkers', 'nacos', 'primary'])('vigil %s --help prints its usage and exits 0', async (command) => {
    const { code, stdout, stderr } = await vigil(command, '--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage: vigil ${command}`));
    expect(stderr).toBe('');
  });

  it('answers an unknown flag with one line naming it, and the stack only with --debug', async () => {
    const plain = await vigil('start', '--bogus');
    expect(plain.code).toBe(2);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/^vigil: VIGIL_ERR_CONFIG_INVALID: .*--bogus/);
    const debug = await vigil('start', '--bogus', '--debug');
    expect(debug.stderr).toMatch(STACK);
  });

  it('says in one line that the daemon cannot be reached', async () => {
    const server = createServer();
    const port = await listen(server);
    server.close(); // a port nobody listens on
    const { code, stderr } = await vigil('status', '--url', `http://127.0.0.1:${port}`);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^vigil status: cannot reach .*ECONNREFUSED/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('vigil start: one daemon per data directory, port before store', () => {
  let first: Daemon;

  beforeAll(async () => {
    first = await startDaemon();
    dirs.push(first.dataDir);
  });
  afterAll(async () => {
    await first.stop();
  });

  it('refuses a second daemon on the same data directory with one line naming it', async () => {
    const { code, stderr } = await vigil('start', '--port', '0', '--data', first.dataDir);
    expect(code).toBe(2);
    expect(stderr).toContain('VIGIL_ERR_DATA_DIR_LOCKED');
    expect(stderr).toContain(first.dataDir);
    expect(stderr).toContain(String(first.proc.pid));
    expect(stderr).not.toMatch(STACK);
    // The first daemon is untouched.
    expect((await fetch(new URL('/healthz', first.url))).status).toBe(200);
  });

  it('exits with one line when the port is taken, before creating the store or leaving a lock', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const { port } = new URL(first.url);
    const { code, stderr } = await vigil('start', '--port', port, '--data', dataDir);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^vigil: VIGIL_ERR_API_PORT_IN_USE: .*:\d+ is in use/);
    expect(stderr).not.toMatch(STACK);
    expect(existsSync(join(dataDir, 'vigil.db'))).toBe(false);
    expect(existsSync(join(dataDir, 'vigil.lock'))).toBe(false);
  });

  it('takes over the lock of a daemon killed with -9, and removes its own on a clean stop', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const killed = await startDaemon({ dataDir });
    expect(readFileSync(join(dataDir, 'vigil.lock'), 'utf8').trim()).toBe(String(killed.proc.pid));
    await killed.kill();
    const next = await startDaemon({ dataDir });
    expect(readFileSync(join(dataDir, 'vigil.lock'), 'utf8').trim()).toBe(String(next.proc.pid));
    expect(await next.stop()).toBe(0);
    expect(existsSync(join(dataDir, 'vigil.lock'))).toBe(false);
  });
});

