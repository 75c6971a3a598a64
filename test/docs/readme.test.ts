/**
 * Runs the README's "Five minutes with vigil" commands, as written, against a real daemon. The only
 * changes are the ones a shared test machine needs: the daemon's and the target's ports are free
 * ones instead of 8848 and 9000, and `vigil` is a function that points `status` at that daemon.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO, removeDir, startDaemon, type Daemon } from '../helpers/daemon.js';
import { listen } from '../helpers/servers.js';

const run = promisify(execFile);
const readme = readFileSync(`${REPO}/README.md`, 'utf8');
const section = readme.slice(readme.indexOf('## Five minutes with vigil'), readme.indexOf('Nacos clients need no change'));
const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

let daemon: Daemon;

beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon.stop();
  removeDir(daemon.dataDir);
});

describe('README walkthrough', () => {
  it('has the steps this test knows how to run', () => {
    expect(blocks[0]).toMatch(/^alias vigil=/);
    expect(blocks.length).toBe(6);
    // Only `vigil status` is used, so pointing it at the test daemon is the whole substitution.
    const uses = blocks.slice(1).join('\n').match(/\bvigil \w+/g) ?? [];
    expect(new Set(uses)).toEqual(new Set(['vigil status']));
  });

  it('holds step by step with the default settings: UP, DOWN on a refused probe, UP again', { timeout: 120_000 }, async () => {
    const probe = createServer();
    const targetPort = await listen(probe);
    probe.close();
    const base = new URL(daemon.url);
    const script = [
      'set -euo pipefail',
      "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
      `vigil() { node ${JSON.stringify(CLI)} "$@" --url ${JSON.stringify(daemon.url)}; }`,
      ...blocks.slice(1),
    ]
      .join('\n')
      .replaceAll('http://127.0.0.1:8848', `http://127.0.0.1:${base.port}`)
      .replaceAll('9000', String(targetPort));
    const { stdout } = await run('bash', ['-c', script], { cwd: REPO, timeout: 110_000 });
    const up = stdout.indexOf('ok responded');
    const down = stdout.indexOf('fail-now refused');
    expect(up, stdout).toBeGreaterThan(-1);
    expect(down, stdout).toBeGreaterThan(up);
    expect(stdout.slice(down)).toMatch(new RegExp(`127\\.0\\.0\\.1:${targetPort}\\s+persistent\\s+UP\\s`));
  });
});
