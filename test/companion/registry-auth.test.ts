/**
 * A vigil registry with Nacos users: the companion logs in with username and password (here from a
 * file) and its writes land; with a wrong password it says so once and writes nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { closedPort } from '../helpers/servers.js';
import { healthOf, nacosCall, startCompanion, startRegistry, statusOf } from './helpers.js';

const DEADLINE = 20_000;
const USER = { username: 'companion', password: 'c0mpanion-pass' };

describe('companion with auth on the registry', () => {
  let registry: Daemon;
  const started: Daemon[] = [];
  let dir: string;
  let down: number;

  beforeAll(async () => {
    registry = await startRegistry({ api: { users: [{ ...USER, role: 'write' }] } });
    dir = tempDir();
    down = await closedPort();
    const r = await nacosCall(registry.url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@secured', ip: '127.0.0.1', port: down, ephemeral: false, ...USER });
    expect(r.status).toBe(200);
  }, 30_000);

  afterAll(async () => {
    for (const d of started) await d.kill();
    await registry?.stop();
    for (const d of [...started, registry]) if (d) removeDir(d.dataDir);
    removeDir(dir);
  });

  it('refuses writes without a credential (the registry really has auth on)', async () => {
    const r = await nacosCall(registry.url, 'PUT', '/health/instance', { serviceName: 'DEFAULT_GROUP@@secured', ip: '127.0.0.1', port: down, healthy: false });
    expect(r.status).toBe(403);
    expect(await healthOf(registry.url, 'secured', down)).toBe(true);
  });

  it('reports a wrong password once and writes nothing', async () => {
    const wrong = await startCompanion(registry.url, { username: USER.username, password: 'not-the-password' });
    started.push(wrong);
    await waitFor(async () => (await statusOf(wrong.url)).polls.failed >= 3, DEADLINE);
    const s = await statusOf(wrong.url);
    expect(s.conditions).toEqual([expect.objectContaining({ kind: 'auth' })]);
    expect(s.writes.sent).toBe(0);
    expect(await healthOf(registry.url, 'secured', down)).toBe(true);
    expect(wrong.output().split('\n').filter((l) => l.includes('"condition":"auth"'))).toHaveLength(1);
    expect(wrong.output()).not.toContain('not-the-password');
    await wrong.kill();
  });

  it('logs in with username and password and its writes land', async () => {
    const file = join(dir, 'nacos-password');
    writeFileSync(file, USER.password);
    const companion = await startCompanion(registry.url, { username: USER.username, passwordFile: file });
    started.push(companion);
    await waitFor(async () => (await healthOf(registry.url, 'secured', down)) === false, DEADLINE);
    const s = await statusOf(companion.url);
    expect(s).toMatchObject({ auth: 'token', conditions: [], writes: { sent: 1 } });
  });
});
