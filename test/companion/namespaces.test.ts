/**
 * Namespaces: read from the server's console list when none are configured (a namespace created
 * later is picked up at the next poll), the configured list wins, and a server that refuses the
 * list is one condition while the last known namespaces (or public) are still read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/daemon.js';
import { closedPort } from '../helpers/servers.js';
import { conditionLines, startLocalCompanion, statusOf, type LocalCompanion } from './helpers.js';
import { startScriptedNacos, type ScriptedNacos, type ScriptedService } from './scripted-nacos.js';

const DEADLINE = 20_000;

/** One service whose one persistent instance points at a refused port: its probe decides "down" at once. */
function downService(port: number): ScriptedService {
  return { clusters: new Map([['DEFAULT', { type: 'NONE' }]]), hosts: [{ ip: '127.0.0.1', port, healthy: true, ephemeral: false, clusterName: 'DEFAULT' }] };
}

const written = (svc: ScriptedService) => svc.hosts[0]!.healthy === false;
const listedIn = (nacos: ScriptedNacos, ns: string) => nacos.requests.some((r) => r.path === '/ns/service/list' && r.params.get('namespaceId') === ns);

describe('namespaces', () => {
  let nacos: ScriptedNacos | undefined;
  let c: LocalCompanion | undefined;
  afterEach(async () => {
    await c?.stop();
    await nacos?.close();
    c = undefined;
  });

  it('reads every namespace the server lists, public included, and one created later', async () => {
    nacos = await startScriptedNacos();
    const pub = downService(await closedPort());
    const dev = downService(await closedPort());
    nacos.services.set('orders', pub);
    nacos.namespaces.set('dev-id', new Map([['orders', dev]]));
    c = await startLocalCompanion(nacos.url.replace('http://', ''));
    await waitFor(() => written(pub) && written(dev), DEADLINE);
    expect((await statusOf(c.url)).namespaces).toEqual({ ids: ['public', 'dev-id'], from: 'server' });
    // The health writes name the namespace of the instance they are for.
    const puts = nacos.requests.filter((r) => r.path === '/ns/health/instance').map((r) => `${r.params.get('namespaceId')} ${r.params.get('port')}`);
    expect(new Set(puts)).toEqual(new Set([`public ${pub.hosts[0]!.port}`, `dev-id ${dev.hosts[0]!.port}`]));

    const qa = downService(await closedPort());
    nacos.namespaces.set('qa-id', new Map([['billing', qa]]));
    await waitFor(() => written(qa), DEADLINE);
    expect((await statusOf(c.url)).namespaces.ids).toEqual(['public', 'dev-id', 'qa-id']);
  });

  it('reads only the configured namespaces and never asks the server for its list', async () => {
    nacos = await startScriptedNacos();
    const pub = downService(await closedPort());
    const dev = downService(await closedPort());
    nacos.services.set('orders', pub);
    nacos.namespaces.set('dev-id', new Map([['orders', dev]]));
    c = await startLocalCompanion(nacos.url.replace('http://', ''), { namespaces: ['dev-id'] });
    await waitFor(() => written(dev), DEADLINE);
    // A further poll after the write, so "public was never read" covers more than the first one.
    const polls = (await statusOf(c.url)).polls.ok;
    await waitFor(async () => (await statusOf(c!.url)).polls.ok > polls, DEADLINE);
    expect(pub.hosts[0]!.healthy).toBe(true);
    expect(listedIn(nacos, 'public')).toBe(false);
    expect(nacos.requests.some((r) => r.path === '/console/namespaces')).toBe(false);
    expect((await statusOf(c.url)).namespaces).toEqual({ ids: ['dev-id'], from: 'config' });
  });

  it('reports a refused namespace list once, keeps reading public, and reads the rest once the list is allowed', async () => {
    nacos = await startScriptedNacos();
    nacos.consoleNamespaces = 'forbidden';
    const pub = downService(await closedPort());
    const dev = downService(await closedPort());
    nacos.services.set('orders', pub);
    nacos.namespaces.set('dev-id', new Map([['orders', dev]]));
    c = await startLocalCompanion(nacos.url.replace('http://', ''));
    await waitFor(() => written(pub), DEADLINE);
    const polls = (await statusOf(c.url)).polls.ok;
    await waitFor(async () => (await statusOf(c!.url)).polls.ok >= polls + 2, DEADLINE);
    const s = await statusOf(c.url);
    expect(s.conditions).toEqual([expect.objectContaining({ kind: 'namespaces', subject: 'console/namespaces' })]);
    expect(s.namespaces).toEqual({ ids: ['public'], from: 'fallback' });
    expect(conditionLines(c, 'namespaces')).toHaveLength(1);
    expect(dev.hosts[0]!.healthy).toBe(true);
    expect(listedIn(nacos, 'dev-id')).toBe(false);

    nacos.consoleNamespaces = 'list';
    await waitFor(() => written(dev), DEADLINE);
    expect((await statusOf(c.url)).conditions).toEqual([]);
  });

  it('reads public only from a server that does not serve the list, without a condition', async () => {
    nacos = await startScriptedNacos();
    nacos.consoleNamespaces = 'missing';
    const pub = downService(await closedPort());
    nacos.services.set('orders', pub);
    c = await startLocalCompanion(nacos.url.replace('http://', ''));
    await waitFor(() => written(pub), DEADLINE);
    const s = await statusOf(c.url);
    expect(s.namespaces).toEqual({ ids: ['public'], from: 'fallback' });
    expect(s.conditions).toEqual([]);
  });
});
