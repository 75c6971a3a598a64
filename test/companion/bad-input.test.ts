/**
 * What goes wrong between a companion and its server: an address nobody answers on, a server that
 * is not Nacos, malformed answers, refused credentials, clusters refusing external health. Each is
 * one log line per condition (not per request), shown in the status, and probing goes on; nothing
 * is written that was not probed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/daemon.js';
import { closedPort, startHttpServer, type TestServer } from '../helpers/servers.js';
import { conditionLines, healthOf, startLocalCompanion, statusOf, switchableTcp, type LocalCompanion, type SwitchableTarget } from './helpers.js';
import { startScriptedNacos, type ScriptedNacos } from './scripted-nacos.js';

const DEADLINE = 20_000;
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function companionFor(addr: string, nacos: Record<string, unknown> = {}): Promise<LocalCompanion> {
  const c = await startLocalCompanion(addr, nacos);
  cleanup.push(() => c.stop());
  return c;
}

async function scripted(opts: Parameters<typeof startScriptedNacos>[0] = {}): Promise<ScriptedNacos> {
  const s = await startScriptedNacos(opts);
  cleanup.push(() => s.close());
  return s;
}

async function target(): Promise<SwitchableTarget> {
  const t = await switchableTcp();
  cleanup.push(() => t.close());
  return t;
}

async function failedPolls(c: LocalCompanion, n: number): Promise<any> {
  return waitFor(async () => {
    const s = await statusOf(c.url);
    return s.polls.failed >= n && s;
  }, DEADLINE);
}

describe('companion bad input', () => {
  it('refuses to start with a serverAddr that is not host:port, naming the field', async () => {
    await expect(startLocalCompanion('127.0.0.1:99999')).rejects.toMatchObject({ code: 'VIGIL_ERR_CONFIG_INVALID', field: 'source.nacos.serverAddr' });
  });

  it('reports an unreachable serverAddr once, in the log and the status', async () => {
    const c = await companionFor(`127.0.0.1:${await closedPort()}`);
    const s = await failedPolls(c, 4);
    expect(s.conditions).toEqual([expect.objectContaining({ kind: 'unreachable' })]);
    expect(s.writes.sent).toBe(0);
    expect(conditionLines(c, 'unreachable')).toHaveLength(1);
  });

  it('reports a server that is not Nacos once', async () => {
    const web: TestServer = await startHttpServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
    cleanup.push(() => web.close());
    const c = await companionFor(`127.0.0.1:${web.port}`);
    const s = await failedPolls(c, 4);
    expect(s.conditions).toEqual([expect.objectContaining({ kind: 'malformed' })]);
    expect(conditionLines(c, 'malformed')).toHaveLength(1);
  });

  it('reports refused credentials once and writes nothing', async () => {
    const nacos = await scripted({ user: { username: 'vigil', password: 'right', tokenTtl: 18000 } });
    const down = await closedPort();
    nacos.services.set('svc', { clusters: new Map([['DEFAULT', { type: 'NONE' }]]), hosts: [{ ip: '127.0.0.1', port: down, healthy: true, ephemeral: false, clusterName: 'DEFAULT' }] });
    const c = await companionFor(nacos.url.replace('http://', ''), { username: 'vigil', password: 'wrong' });
    const s = await failedPolls(c, 4);
    expect(s.conditions).toEqual([expect.objectContaining({ kind: 'auth' })]);
    expect(conditionLines(c, 'auth')).toHaveLength(1);
    expect(nacos.requests.filter((r) => r.path === '/ns/health/instance')).toEqual([]);
  });

  it('keeps a service whose answer is malformed as it was, goes on probing, and reports it once', async () => {
    const nacos = await scripted();
    const t = await target();
    const down = await closedPort();
    const none = () => new Map([['DEFAULT', { type: 'NONE' }]]);
    nacos.services.set('good', { clusters: none(), hosts: [{ ip: '127.0.0.1', port: down, healthy: true, ephemeral: false, clusterName: 'DEFAULT' }] });
    nacos.services.set('bad', { clusters: none(), hosts: [{ ip: '127.0.0.1', port: t.port, healthy: true, ephemeral: false, clusterName: 'DEFAULT' }] });
    const c = await companionFor(nacos.url.replace('http://', ''));
    await waitFor(async () => (await statusOf(c.url)).instances === 2, DEADLINE);
    nacos.malformed.add('bad');
    await waitFor(async () => (await statusOf(c.url)).conditions.some((x: any) => x.kind === 'malformed'), DEADLINE);
    // Still in the working copy and still probed: its target going down reaches the server.
    await t.down();
    await waitFor(() => nacos.services.get('bad')!.hosts[0]!.healthy === false && nacos.services.get('good')!.hosts[0]!.healthy === false, DEADLINE);
    expect(await healthOf(c.url, 'bad', t.port)).toBe(false);
    const start = (await statusOf(c.url)).polls.ok;
    await waitFor(async () => (await statusOf(c.url)).polls.ok >= start + 3, DEADLINE);
    expect(conditionLines(c, 'malformed')).toHaveLength(1);
  });

  it('takes a 404 for one instance as that instance gone, not as its cluster refusing', async () => {
    const nacos = await scripted();
    const [a, b] = [await closedPort(), await closedPort()];
    const host = (port: number) => ({ ip: '127.0.0.1', port, healthy: true, ephemeral: false, clusterName: 'DEFAULT' });
    nacos.services.set('svc', { clusters: new Map([['DEFAULT', { type: 'NONE' }]]), hosts: [host(a), host(b)] });
    nacos.gone.add(a);
    const c = await companionFor(nacos.url.replace('http://', ''));
    await waitFor(() => nacos.services.get('svc')!.hosts[1]!.healthy === false, DEADLINE);
    const s = await statusOf(c.url);
    expect(s.conditions).toEqual([]);
    expect(s.clusters).toEqual([{ cluster: 'public/DEFAULT_GROUP@@svc/DEFAULT', healthChecker: 'NONE', refused: false }]);
  });

  it('reports a cluster that refuses external health once, keeps probing, and writes once it is NONE', async () => {
    const nacos = await scripted();
    const down = await closedPort();
    const clusters = new Map([['DEFAULT', { type: 'TCP' }]]);
    nacos.services.set('legacy', { clusters, hosts: [{ ip: '127.0.0.1', port: down, healthy: true, ephemeral: false, clusterName: 'DEFAULT' }] });
    const c = await companionFor(nacos.url.replace('http://', ''));
    const refused = await waitFor(async () => {
      const s = await statusOf(c.url);
      return s.clusters.find((x: any) => x.refused);
    }, DEADLINE);
    expect(refused).toEqual({ cluster: 'public/DEFAULT_GROUP@@legacy/DEFAULT', healthChecker: 'TCP', refused: true });
    expect(await healthOf(c.url, 'legacy', down)).toBe(false);
    const start = (await statusOf(c.url)).polls.ok;
    await waitFor(async () => (await statusOf(c.url)).polls.ok >= start + 3, DEADLINE);
    // One refused write, not one per poll (retries wait for refusalRetryMs or a checker change).
    expect(nacos.requests.filter((r) => r.path === '/ns/health/instance')).toHaveLength(1);
    expect(conditionLines(c, 'refused')).toHaveLength(1);

    clusters.set('DEFAULT', { type: 'NONE' });
    await waitFor(() => nacos.services.get('legacy')!.hosts[0]!.healthy === false, DEADLINE);
    await waitFor(async () => (await statusOf(c.url)).conditions.length === 0, DEADLINE);
  });
});
