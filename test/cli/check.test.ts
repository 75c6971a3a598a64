/**
 * `vigil check` and `vigil checkers`: in-process through checkCommand()/checkersCommand() with
 * captured output, and end to end by spawning the built CLI (dist/src/cli/main.js).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand } from '../../src/cli/check.js';
import { checkersCommand } from '../../src/cli/checkers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = `${ROOT}dist/src/cli/main.js`;
const LINE = /^ok {2}tcp 127\.0\.0\.1:\d+ {2}connected {2}\d+(\.\d)? ms$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function inProcess(command: typeof checkCommand, args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await command(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

const check = (...args: string[]) => inProcess(checkCommand, args);
const checkers = (...args: string[]) => inProcess(checkersCommand, args);

async function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port that was free a moment ago: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let server: net.Server;
let silent: net.Server;
let port: number;
let silentPort: number;
let closed: number;

beforeAll(async () => {
  server = net.createServer((socket) => socket.on('error', () => {}).end());
  // Accepts and never answers: for timeouts of checkers that wait for a reply.
  silent = net.createServer((socket) => socket.on('error', () => {}).resume());
  port = await listen(server);
  silentPort = await listen(silent);
  closed = await closedPort();
});

afterAll(() => {
  server.close();
  silent.close();
});

describe('vigil check (in process)', () => {
  it('prints one ok line and exits 0 when the port accepts', async () => {
    const run = await check('tcp', `127.0.0.1:${port}`);
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd()).toMatch(LINE);
    expect(run.stderr).toBe('');
  });

  it('exits 1 with reason refused when nothing listens', async () => {
    const run = await check('tcp', `127.0.0.1:${closed}`);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^fail-now {2}tcp 127\\.0\\.0\\.1:${closed} {2}refused {2}`));
  });

  it('prints the probe result as JSON with --json', async () => {
    const run = await check('tcp', `127.0.0.1:${port}`, '--json');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ type: 'tcp', status: 'ok', reason: 'connected', target: `127.0.0.1:${port}` });
    expect(typeof result.latencyMs).toBe('number');
    expect(typeof result.startedAt).toBe('number');
    expect(result.options).toMatchObject({ family: 0 });
  });

  it('passes options (-o and --option) to the checker and honours --timeout', async () => {
    const run = await check('tcp', `127.0.0.1:${silentPort}`, '-o', 'send=PING', '--option', 'expect=PONG', '--timeout', '150');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^fail {2}tcp 127\.0\.0\.1:\d+ {2}timeout {2}1\d\d(\.\d)? ms/);
  });

  it('probes an IPv6 target written in brackets', async (ctx) => {
    const v6 = net.createServer((socket) => socket.on('error', () => {}).end());
    try {
      await listen(v6, '::1');
    } catch {
      ctx.skip(); // no IPv6 loopback on this machine
    }
    try {
      const v6port = (v6.address() as AddressInfo).port;
      const run = await check('tcp', `[::1]:${v6port}`);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`tcp [::1]:${v6port}  connected`);
    } finally {
      v6.close();
    }
  });

  it('exits 2 with VIGIL_ERR_CHECKER_UNKNOWN_TYPE for an unknown type', async () => {
    const run = await check('nope', `127.0.0.1:${port}`);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^VIGIL_ERR_CHECKER_UNKNOWN_TYPE: unknown checker type "nope"/);
    expect(run.stdout).toBe('');
  });

  it('exits 2 with VIGIL_ERR_CHECKER_OPTION_INVALID for an unknown or mistyped option', async () => {
    const unknown = await check('tcp', `127.0.0.1:${port}`, '--option', 'colour=blue');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^VIGIL_ERR_CHECKER_OPTION_INVALID: .*options\.colour/);
    const mistyped = await check('tcp', `127.0.0.1:${port}`, '-o', 'maxReadBytes=lots');
    expect(mistyped.code).toBe(2);
    expect(mistyped.stderr).toContain('options.maxReadBytes');
    const notPair = await check('tcp', `127.0.0.1:${port}`, '-o', 'maxReadBytes');
    expect(notPair.code).toBe(2);
    expect(notPair.stderr).toMatch(/^VIGIL_ERR_CHECKER_OPTION_INVALID:/);
  });

  it('keeps the text of a string option as given, JSON-decoding it only in double quotes', async () => {
    const digits = await check('tcp', `127.0.0.1:${port}`, '-o', 'send=123', '--json');
    expect(digits.code).toBe(0);
    expect(JSON.parse(digits.stdout)).toMatchObject({ options: { send: '123' } });
    const literal = await check('tcp', `127.0.0.1:${port}`, '-o', 'send=PING\\r\\n', '--json');
    expect(JSON.parse(literal.stdout)).toMatchObject({ options: { send: 'PING\\r\\n' } });
    const quoted = await check('tcp', `127.0.0.1:${port}`, '-o', 'send="PING\\r\\n"', '--json');
    expect(JSON.parse(quoted.stdout)).toMatchObject({ options: { send: 'PING\r\n' } });
    // A number option is still typed from JSON.
    const typed = await check('tcp', `127.0.0.1:${port}`, '-o', 'maxReadBytes=100', '--json');
    expect(JSON.parse(typed.stdout)).toMatchObject({ options: { maxReadBytes: 100 } });
  });

  it('exits 2 with VIGIL_ERR_CHECKER_OPTION_INVALID for a key that would reach Object.prototype', async () => {
    for (const pair of ['__proto__.polluted=1', 'constructor.prototype.polluted=1']) {
      const run = await check('tcp', `127.0.0.1:${port}`, '-o', pair);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^VIGIL_ERR_CHECKER_OPTION_INVALID: option "/);
    }
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it.each([
    ['no port', '127.0.0.1'],
    ['a port out of range', '127.0.0.1:70000'],
    ['port zero', '127.0.0.1:0'],
    ['a bare IPv6 address', '::1:80'],
    ['an empty host', ':80'],
  ])('exits 2 with VIGIL_ERR_CONFIG_INVALID for a target with %s', async (_name, target) => {
    const run = await check('tcp', target);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^VIGIL_ERR_CONFIG_INVALID: target: /);
  });

  it('hints at brackets for an IPv6 address without them', async () => {
    expect((await check('tcp', '::1:80')).stderr).toContain('[::1]:80');
  });

  it.each([['0'], ['-5'], ['1.5'], ['soon'], ['600001']])('exits 2 for --timeout %s', async (timeout) => {
    const run = await check('tcp', `127.0.0.1:${port}`, `--timeout=${timeout}`);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^VIGIL_ERR_CONFIG_INVALID: timeout: /);
  });

  it('exits 2 with the usage for an unknown flag or missing arguments', async () => {
    for (const args of [['tcp', `127.0.0.1:${port}`, '--frobnicate'], ['tcp'], ['tcp', '127.0.0.1:1', 'extra']]) {
      const run = await check(...args);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^VIGIL_ERR_CONFIG_INVALID: /);
      expect(run.stderr).toContain('usage: vigil check');
    }
  });

  it('prints the usage and exits 0 with --help', async () => {
    const run = await check('--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: vigil check <type> <host:port>');
  });

  it('loads a plugin with --plugin and probes with it', async () => {
    const run = await check('--plugin', './test/fixtures/plugins/single.mjs', 'fixture-single', `127.0.0.1:${closed}`, '-o', 'greeting=hi');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ok {2}fixture-single 127\.0\.0\.1:\d+ {2}connected {2}[\d.]+ ms {2}hi$/m);
  });

  it('exits 2 with the plugin error code when a plugin cannot be loaded', async () => {
    const run = await check('--plugin', './no/such/plugin.js', 'tcp', `127.0.0.1:${port}`);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^VIGIL_ERR_PLUGIN_LOAD: plugin \.\/no\/such\/plugin\.js/);
  });

  it('never prints a secret option', async () => {
    const secret = 'hunter2-secret';
    const args = ['--plugin', './examples/redis-role/index.ts', 'redis-role', `127.0.0.1:${closed}`, '-o', `password=${secret}`];
    const json = await check(...args, '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ reason: 'refused', options: { password: '***' } });
    const text = await check(...args);
    expect(json.stdout + json.stderr + text.stdout + text.stderr).not.toContain(secret);
  });
});

describe('vigil checkers (in process)', () => {
  it('lists every built-in type with its source and options', async () => {
    const run = await checkers();
    expect(run.code).toBe(0);
    for (const type of ['http', 'mysql', 'tcp']) expect(run.stdout).toMatch(new RegExp(`^${type} {2}\\(builtin\\)`, 'm'));
    expect(run.stdout).toMatch(/^ {2}maxReadBytes +integer +4096/m);
    expect(run.stdout).toMatch(/^ {2}password +string +- +secret$/m);
  });

  it('adds plugin types with --plugin, naming the plugin as their source', async () => {
    const run = await checkers('--plugin', './examples/redis-role/index.ts', 'redis-role');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^redis-role {2}\(plugin \.\/examples\/redis-role\/index\.ts\)/);
    expect(run.stdout).toMatch(/^ {2}requirePrimary +boolean +false/m);
    expect(run.stdout).not.toMatch(/^tcp/m);
  });

  it('prints types, sources and option JSON schemas with --json', async () => {
    const run = await checkers('--json');
    expect(run.code).toBe(0);
    const list = JSON.parse(run.stdout) as { type: string; source: string; options: { properties: object } }[];
    expect(list.map((c) => c.type).sort()).toEqual(['http', 'mysql', 'tcp']);
    const tcp = list.find((c) => c.type === 'tcp');
    expect(tcp?.source).toBe('builtin');
    expect(tcp?.options.properties).toHaveProperty('maxReadBytes.default', 4096);
  });

  it('exits 2 with VIGIL_ERR_CHECKER_UNKNOWN_TYPE for an unknown type', async () => {
    const run = await checkers('nope');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^VIGIL_ERR_CHECKER_UNKNOWN_TYPE: /);
  });
});

// --- The built CLI, spawned ------------------------------------------------------------------

/** Rebuilds dist/ when it is missing or older than this command's sources (npm test builds first). */
function ensureBuilt(): void {
  const sources = ['src/cli/check.ts', 'src/cli/checkers.ts', 'src/cli/output.ts', 'src/cli/main.ts'];
  const stale = sources.some((src) => {
    const out = `${ROOT}dist/${src.replace(/\.ts$/, '.js')}`;
    return !existsSync(out) || statSync(out).mtimeMs < statSync(`${ROOT}${src}`).mtimeMs;
  });
  if (!stale) return;
  // tsc emits even when some file has a type error; what matters here is that main.js exists.
  const tsc = spawnSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (!existsSync(MAIN)) throw new Error(`tsc did not produce ${MAIN}:\n${tsc.stdout}${tsc.stderr}`);
}

function cli(...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('vigil check (built CLI)', () => {
  beforeAll(() => {
    ensureBuilt();
  });

  it('exits 0 and prints the ok line against a listening port', async () => {
    const run = await cli('check', 'tcp', `127.0.0.1:${port}`);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.trimEnd()).toMatch(LINE);
  });

  it('lists --plugin on the check line of the top-level usage', async () => {
    const run = await cli('--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ {2}check .*vigil check <type> <host:port> .*--plugin SPEC/m);
  });

  it('exits 1 with refused against a closed port', async () => {
    const run = await cli('check', 'tcp', `127.0.0.1:${closed}`);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('refused');
  });

  it('prints parseable JSON with --json', async () => {
    const run = await cli('check', 'tcp', `127.0.0.1:${port}`, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ type: 'tcp', status: 'ok', reason: 'connected' });
  });

  it('exits 2 with VIGIL_ERR_CHECKER_UNKNOWN_TYPE for an unknown type', async () => {
    const run = await cli('check', 'nope', `127.0.0.1:${port}`);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('VIGIL_ERR_CHECKER_UNKNOWN_TYPE');
  });

  it('exits 2 with VIGIL_ERR_CHECKER_OPTION_INVALID for an unknown option', async () => {
    const run = await cli('check', 'tcp', `127.0.0.1:${port}`, '--option', 'colour=blue');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('VIGIL_ERR_CHECKER_OPTION_INVALID');
  });

  it('loads the compiled example plugin, which imports vigil by package name', async () => {
    const plugin = './dist/examples/redis-role/index.js';
    const run = await cli('check', '--plugin', plugin, 'redis-role', `127.0.0.1:${closed}`, '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ type: 'redis-role', status: 'fail-now', reason: 'refused' });
    const list = await cli('checkers', '--plugin', plugin, '--json');
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { type: string }[]).map((c) => c.type)).toContain('redis-role');
  });
});
