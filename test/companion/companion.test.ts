/**
 * Companion mode end to end: a vigil registry (checks off, so only the companion changes health)
 * and a vigil companion pointed at it with --nacos-server semantics, probing real TCP and HTTP
 * targets on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, removeDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { closedPort, startHttpServer, type TestServer } from '../helpers/servers.js';
import { healthOf, instancesOf, nacosCall, register, startCompanion, startRegistry, statusOf, switchableTcp, type SwitchableTarget } from './helpers.js';

const DEADLINE = 20_000;

/** Waits until the companion has finished `n` more successful polls and has no write pending. */
async function settled(url: string, n = 2): Promise<void> {
  const start = (await statusOf(url)).polls.ok;
  await waitFor(async () => {
    const s = await statusOf(url);
    return s.polls.ok >= start + n && s.writes.pending === 0;
  }, DEADLINE);
}

describe('companion against a Nacos-compatible registry', () => {
  let registry: Daemon;
  let companion: Daemon;
  let up: SwitchableTarget;
  let down: number;
  let webOk: TestServer;
  let webBad: TestServer;
  let eph: number;
  let ephVersion: number;

  beforeAll(async () => {
    registry = await startRegistry();
    up = await switchableTcp();
    down = await closedPort();
    eph = await closedPort();
    // Healthy only on the declared path: a probe of any other path would see 404.
    webOk = await startHttpServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end());
    webBad = await startHttpServer((_req, res) => res.writeHead(503).end());
    await register(registry.url, 'tcp-svc', up.port);
    await register(registry.url, 'tcp-svc', down);
    await register(registry.url, 'web', webOk.port, { cluster: 'C1' });
    await register(registry.url, 'web', webBad.port, { cluster: 'C1' });
    const hc = JSON.stringify({ type: 'HTTP', path: '/health', headers: '', expectedResponseCode: 200 });
    expect((await nacosCall(registry.url, 'PUT', '/cluster', { serviceName: 'DEFAULT_GROUP@@web', clusterName: 'C1', healthChecker: hc })).status).toBe(200);
    // It never beats: hour-long timeouts keep it healthy and unchanged however slow the run (the
    // default 15 s heartbeat timeout expired it during a loaded full-suite run).
    await register(registry.url, 'eph', eph, { ephemeral: true, metadata: { 'preserved.heart.beat.timeout': '3600000', 'preserved.ip.delete.timeout': '3600000' } });
    ephVersion = (await instancesOf(registry.url)).get(`eph:${eph}`)!.version;
    companion = await startCompanion(registry.url);
  }, 60_000);

  afterAll(async () => {
    await companion?.kill();
    await registry?.stop();
    await Promise.all([up?.close(), webOk?.close(), webBad?.close()]);
    for (const d of [companion, registry]) if (d) removeDir(d.dataDir);
  });

  it('writes the probed health of persistent instances, with the checker their cluster declares', async () => {
    await waitFor(async () => (await healthOf(registry.url, 'tcp-svc', down)) === false && (await healthOf(registry.url, 'web', webBad.port)) === false, DEADLINE);
    // webOk answers 200 only on /health: a successful probe shows the cluster's path was used.
    const probedOk = async (port: number): Promise<boolean> => {
      const l = (await api(companion.url, 'GET', `/v1/instances?service=web`)).body.instances.find((i: any) => i.port === port);
      return l?.lastProbe?.status === 'ok';
    };
    await waitFor(() => probedOk(webOk.port), DEADLINE);
    const seen = await instancesOf(registry.url);
    expect(seen.get(`tcp-svc:${up.port}`)).toMatchObject({ healthy: true, decidedBy: 'initial' });
    expect(seen.get(`web:${webOk.port}`)).toMatchObject({ healthy: true, decidedBy: 'initial' });
    expect(seen.get(`tcp-svc:${down}`)).toMatchObject({ healthy: false, decidedBy: 'operator' });
    const local = (await api(companion.url, 'GET', '/v1/instances?service=web')).body.instances;
    expect(local.map((i: any) => i.checker)).toEqual([
      expect.objectContaining({ type: 'http', options: expect.objectContaining({ path: '/health' }) }),
      expect.objectContaining({ type: 'http', options: expect.objectContaining({ path: '/health' }) }),
    ]);
  });

  it('reflects a target going down and coming back', async () => {
    await up.down();
    await waitFor(async () => (await healthOf(registry.url, 'tcp-svc', up.port)) === false, DEADLINE);
    await up.up();
    await waitFor(async () => (await healthOf(registry.url, 'tcp-svc', up.port)) === true, DEADLINE);
  });

  it('picks up a persistent instance registered later', async () => {
    const later = await closedPort();
    await register(registry.url, 'tcp-svc', later);
    await waitFor(async () => (await healthOf(registry.url, 'tcp-svc', later)) === false, DEADLINE);
  });

  it('leaves ephemeral instances alone: not probed, not written', async () => {
    await settled(companion.url);
    expect((await instancesOf(registry.url)).get(`eph:${eph}`)).toMatchObject({ healthy: true, version: ephVersion, ephemeral: true });
    expect([...(await instancesOf(companion.url)).keys()].filter((k) => k.startsWith('eph:'))).toEqual([]);
  });

  it('drops an instance deregistered at the registry from its working copy, and deletes nothing itself', async () => {
    const gone = await closedPort();
    await register(registry.url, 'tcp-svc', gone);
    await waitFor(async () => (await instancesOf(companion.url)).has(`tcp-svc:${gone}`), DEADLINE);
    const r = await nacosCall(registry.url, 'DELETE', '/instance', { serviceName: 'DEFAULT_GROUP@@tcp-svc', ip: '127.0.0.1', port: gone, ephemeral: false });
    expect(r.status).toBe(200);
    await waitFor(async () => !(await instancesOf(companion.url)).has(`tcp-svc:${gone}`), DEADLINE);
    const left = [...(await instancesOf(registry.url)).keys()].sort();
    expect(left).toEqual(expect.arrayContaining([`tcp-svc:${up.port}`, `tcp-svc:${down}`, `web:${webOk.port}`, `web:${webBad.port}`, `eph:${eph}`]));
    expect(left).not.toContain(`tcp-svc:${gone}`);
  });

  it('follows a change of the cluster\'s checker on the server', async () => {
    const hc = JSON.stringify({ type: 'HTTP', path: '/moved', headers: '', expectedResponseCode: 200 });
    expect((await nacosCall(registry.url, 'PUT', '/cluster', { serviceName: 'DEFAULT_GROUP@@web', clusterName: 'C1', healthChecker: hc })).status).toBe(200);
    // webOk answers 404 on any path but /health: probed on the new path it goes down.
    await waitFor(async () => (await healthOf(registry.url, 'web', webOk.port)) === false, DEADLINE);
  });

  it('leaves the registry unchanged when the companion stops or is killed', async () => {
    await settled(companion.url);
    const before = await instancesOf(registry.url);
    expect(await companion.stop()).toBe(0);
    expect(await instancesOf(registry.url)).toEqual(before);

    companion = await startCompanion(registry.url);
    await settled(companion.url);
    const again = await instancesOf(registry.url);
    // A restarted companion agrees with what the registry shows: nothing is written again.
    expect(again).toEqual(before);
    await companion.kill();
    expect(await instancesOf(registry.url)).toEqual(before);
  });
});
