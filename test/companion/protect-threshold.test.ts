/**
 * Nacos shows every host healthy once a service's healthy share falls to its protectThreshold, so
 * `instance/list` no longer tells what the server holds. The companion must not take that view
 * for a disagreement and write the same health again at every poll.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { closedPort } from '../helpers/servers.js';
import { instancesOf, nacosCall, register, startCompanion, startRegistry, statusOf, switchableTcp, type SwitchableTarget } from './helpers.js';

const DEADLINE = 20_000;

describe('companion and the protect threshold', () => {
  let registry: Daemon;
  let companion: Daemon;
  let up: SwitchableTarget;
  let down: number;

  beforeAll(async () => {
    registry = await startRegistry();
    up = await switchableTcp();
    down = await closedPort();
    await register(registry.url, 'guarded', up.port);
    await register(registry.url, 'guarded', down);
    expect((await nacosCall(registry.url, 'PUT', '/service', { serviceName: 'DEFAULT_GROUP@@guarded', protectThreshold: 0.6 })).status).toBe(200);
    companion = await startCompanion(registry.url);
  }, 60_000);

  afterAll(async () => {
    await companion?.kill();
    await registry?.stop();
    await up?.close();
    for (const d of [companion, registry]) if (d) removeDir(d.dataDir);
  });

  it('writes a flip once even when the list shows every host healthy afterwards', async () => {
    await waitFor(async () => (await instancesOf(registry.url)).get(`guarded:${down}`)?.healthy === false, DEADLINE);
    const list = JSON.parse((await nacosCall(registry.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@guarded', healthyOnly: false })).text);
    expect(list.reachProtectionThreshold).toBe(true);
    const start = (await statusOf(companion.url)).polls.ok;
    await waitFor(async () => (await statusOf(companion.url)).polls.ok >= start + 4, DEADLINE);
    expect((await statusOf(companion.url)).writes.sent).toBe(1);
  });
});
