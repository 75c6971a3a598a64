/** Each Nacos route doing its job, over HTTP against an in-process vigil. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../helpers/daemon.js';
import { list, nacos, startVigil, type Vigil } from './helpers.js';

let vigil: Vigil;
let url: string;

beforeAll(async () => {
  vigil = await startVigil({ checks: { enabled: false } });
  url = vigil.url;
});

afterAll(async () => {
  await vigil.stop();
});

describe('instance routes', () => {
  it('registers from a form body with a bare service name, groupName, enabled=false and k=v metadata', async () => {
    const r = await nacos(url, 'POST', '/instance', {}, 'serviceName=forms&groupName=G1&ip=127.0.0.1&port=9001&enabled=false&metadata=a%3D1%2Cb%3D2&weight=3.5');
    expect([r.status, r.text]).toEqual([200, 'ok']);
    const detail = await nacos(url, 'GET', '/instance', { serviceName: 'G1@@forms', ip: '127.0.0.1', port: 9001 });
    expect(detail.json).toEqual({
      service: 'G1@@forms',
      ip: '127.0.0.1',
      port: 9001,
      clusterName: 'DEFAULT',
      weight: 3.5,
      healthy: true,
      enabled: false,
      ephemeral: true,
      instanceId: '127.0.0.1#9001#DEFAULT#G1@@forms',
      metadata: { a: '1', b: '2' },
    });
    // Disabled instances are not offered to consumers.
    expect(await list(url, 'G1@@forms')).toEqual([]);
  });

  it('updates only the parameters given', async () => {
    await nacos(url, 'POST', '/instance', { serviceName: 'upd', ip: '127.0.0.1', port: 9002, weight: 2, metadata: '{"v":"1"}' });
    await nacos(url, 'PUT', '/instance', { serviceName: 'upd', ip: '127.0.0.1', port: 9002, enabled: false });
    const d = (await nacos(url, 'GET', '/instance', { serviceName: 'upd', ip: '127.0.0.1', port: 9002 })).json;
    expect(d).toMatchObject({ weight: 2, enabled: false, metadata: { v: '1' } });
  });

  it('refuses to turn a persistent instance into an ephemeral one by registering it again', async () => {
    await nacos(url, 'POST', '/instance', { serviceName: 'kind', ip: '127.0.0.1', port: 9003, ephemeral: false });
    const r = await nacos(url, 'POST', '/instance', { serviceName: 'kind', ip: '127.0.0.1', port: 9003 });
    expect([r.status, r.code]).toEqual([400, 'VIGIL_ERR_CONFLICT']);
    expect((await list(url, 'DEFAULT_GROUP@@kind'))[0]).toMatchObject({ ephemeral: false });
  });

  it('sets health by hand with health/instance, as an operator override', async () => {
    await nacos(url, 'POST', '/instance', { serviceName: 'hand', ip: '127.0.0.1', port: 9004, ephemeral: false });
    expect((await nacos(url, 'PUT', '/health/instance', { serviceName: 'hand', ip: '127.0.0.1', port: 9004, healthy: false })).text).toBe('ok');
    expect((await list(url, 'DEFAULT_GROUP@@hand'))[0].healthy).toBe(false);
    const native = await api(url, 'GET', '/v1/instances?service=hand');
    expect(native.body.instances[0].health).toMatchObject({ decidedBy: 'operator', override: { healthy: false, by: 'nacos' } });
  });

  it('filters instance/list by clusters and healthyOnly, and shows all healthy past the protect threshold', async () => {
    for (const [port, cluster] of [[9010, 'A'], [9011, 'A'], [9012, 'B']] as const) {
      await nacos(url, 'POST', '/instance', { serviceName: 'prot', ip: '127.0.0.1', port, clusterName: cluster, ephemeral: false });
    }
    await nacos(url, 'PUT', '/health/instance', { serviceName: 'prot', ip: '127.0.0.1', port: 9010, clusterName: 'A', healthy: false });
    expect((await list(url, 'DEFAULT_GROUP@@prot', { clusters: 'A' })).map((h) => h.port).sort()).toEqual([9010, 9011]);
    expect((await list(url, 'DEFAULT_GROUP@@prot', { healthyOnly: true })).map((h) => h.port).sort()).toEqual([9011, 9012]);
    await nacos(url, 'PUT', '/health/instance', { serviceName: 'prot', ip: '127.0.0.1', port: 9011, clusterName: 'A', healthy: false });
    await nacos(url, 'POST', '/service', { serviceName: 'other', protectThreshold: 0.5 });
    expect((await nacos(url, 'POST', '/service', { serviceName: 'prot' })).code).toBe('VIGIL_ERR_CONFLICT');
    await nacos(url, 'PUT', '/service', { serviceName: 'prot', protectThreshold: 0.5 });
    const r = await nacos(url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@prot', healthyOnly: true });
    expect(r.json.reachProtectionThreshold).toBe(true);
    expect(r.json.hosts).toHaveLength(3);
  });
});

describe('beat route', () => {
  const beat = (port: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ serviceName: 'DEFAULT_GROUP@@beats', ip: '127.0.0.1', port, cluster: 'DEFAULT', weight: 1, metadata: {}, scheduled: true, ...extra });

  it('answers 20404 to a light beat from an unknown instance and registers nothing', async () => {
    const r = await nacos(url, 'PUT', '/instance/beat', { serviceName: 'DEFAULT_GROUP@@beats', ip: '127.0.0.1', port: 9020 });
    expect(r.json).toEqual({ clientBeatInterval: 5000, code: 20404, lightBeatEnabled: true });
    expect(await list(url, 'DEFAULT_GROUP@@beats')).toEqual([]);
  });

  it('registers an unknown instance again from a full beat, with the beat\'s metadata and weight', async () => {
    const r = await nacos(url, 'PUT', '/instance/beat', { serviceName: 'DEFAULT_GROUP@@beats', beat: beat(9021, { weight: 2, metadata: { 'preserved.heart.beat.interval': '2000' } }) });
    expect(r.json).toEqual({ clientBeatInterval: 2000, code: 10200, lightBeatEnabled: true });
    expect(await list(url, 'DEFAULT_GROUP@@beats')).toEqual([expect.objectContaining({ port: 9021, weight: 2, ephemeral: true, instanceHeartBeatInterval: 2000 })]);
    expect((await nacos(url, 'GET', '/operator/metrics')).json.beat.reregistered).toBeGreaterThanOrEqual(1);
  });

  it('leaves a persistent instance alone', async () => {
    await nacos(url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@beats', ip: '127.0.0.1', port: 9022, ephemeral: false });
    const r = await nacos(url, 'PUT', '/instance/beat', { serviceName: 'DEFAULT_GROUP@@beats', beat: beat(9022) });
    expect(r.json.code).toBe(10200);
    expect((await list(url, 'DEFAULT_GROUP@@beats')).find((h) => h.port === 9022)).toMatchObject({ ephemeral: false });
  });
});

describe('services, clusters and switches', () => {
  it('creates, shows, lists and deletes a service', async () => {
    expect((await nacos(url, 'POST', '/service', { serviceName: 'svc-a', groupName: 'G9', protectThreshold: 0.3, metadata: 'owner=ops' })).text).toBe('ok');
    const shown = await nacos(url, 'GET', '/service', { serviceName: 'G9@@svc-a' });
    expect(shown.json).toMatchObject({ namespaceId: 'public', groupName: 'G9', name: 'svc-a', protectThreshold: 0.3, metadata: { owner: 'ops' }, clusters: [] });
    expect((await nacos(url, 'GET', '/service/list', { pageNo: 1, pageSize: 10, groupName: 'G9' })).json).toEqual({ count: 1, doms: ['svc-a'] });
    expect((await nacos(url, 'DELETE', '/service', { serviceName: 'G9@@svc-a' })).text).toBe('ok');
    expect((await nacos(url, 'GET', '/service', { serviceName: 'G9@@svc-a' })).status).toBe(404);
  });

  it('refuses to delete a service that still has instances', async () => {
    await nacos(url, 'POST', '/instance', { serviceName: 'busy', ip: '127.0.0.1', port: 9030 });
    const r = await nacos(url, 'DELETE', '/service', { serviceName: 'busy' });
    expect([r.status, r.code]).toEqual([400, 'VIGIL_ERR_CONFLICT']);
  });

  it('maps an HTTP cluster checker onto the http checker, and NONE onto a whitelist entry that the next type removes', async () => {
    const hc = JSON.stringify({ type: 'HTTP', path: '/health', headers: 'Authorization:Basic a:b|X-Env:prod' });
    expect((await nacos(url, 'PUT', '/cluster', { serviceName: 'web', clusterName: 'C1', healthChecker: hc })).text).toBe('ok');
    const cfgs = (await api(url, 'GET', '/v1/checker-configs')).body.checkerConfigs;
    const web = cfgs.find((c: any) => c.scope.service === 'web');
    // Header values are redacted in every listing (docs/security.md); the split on the first ':'
    // is checked value by value in health-checker.test.ts.
    expect(web).toMatchObject({ scope: { cluster: 'C1' }, checker: { type: 'http', options: { path: '/health', headers: { Authorization: '***', 'X-Env': '***' }, expectStatus: [[200, 200]] } } });

    await nacos(url, 'PUT', '/cluster', { serviceName: 'web', clusterName: 'C1', healthChecker: '{"type":"NONE"}' });
    let wl = (await api(url, 'GET', '/v1/whitelist')).body.entries;
    expect(wl).toEqual([expect.objectContaining({ id: 'nacos-none:public/DEFAULT_GROUP@@web/C1', service: 'DEFAULT_GROUP@@web', cluster: 'C1' })]);
    expect((await api(url, 'GET', '/v1/checker-configs')).body.checkerConfigs.find((c: any) => c.scope.service === 'web')).toBeUndefined();
    await nacos(url, 'POST', '/instance', { serviceName: 'web', clusterName: 'C1', ip: '127.0.0.1', port: 9040, ephemeral: false });
    expect((await nacos(url, 'GET', '/service', { serviceName: 'web' })).json.clusters).toEqual([{ name: 'C1', healthChecker: { type: 'NONE' }, useInstancePortForCheck: true, metadata: {} }]);

    await nacos(url, 'PUT', '/cluster', { serviceName: 'web', clusterName: 'C1', healthChecker: '{"type":"TCP"}' });
    wl = (await api(url, 'GET', '/v1/whitelist')).body.entries;
    expect(wl.filter((e: any) => e.id.startsWith('nacos-none:'))).toEqual([]);
  });

  it('applies healthCheckTimes to checkers set through PUT cluster afterwards', async () => {
    expect((await nacos(url, 'PUT', '/operator/switches', { entry: 'healthCheckTimes', value: 2 })).text).toBe('ok');
    await nacos(url, 'PUT', '/cluster', { serviceName: 'times', clusterName: 'DEFAULT', healthChecker: '{"type":"TCP"}' });
    const cfg = (await api(url, 'GET', '/v1/checker-configs')).body.checkerConfigs.find((c: any) => c.scope.service === 'times');
    expect(cfg.checker).toMatchObject({ rise: 2, fall: 2 });
  });

  it('shows and changes switches; beat answers follow them', async () => {
    expect((await nacos(url, 'PUT', '/operator/switches', { entry: 'clientBeatInterval', value: 3000 })).text).toBe('ok');
    expect((await nacos(url, 'PUT', '/operator/switches', { entry: 'lightBeatEnabled', value: false })).text).toBe('ok');
    expect((await nacos(url, 'GET', '/operator/switches')).json).toMatchObject({ clientBeatInterval: 3000, lightBeatEnabled: false, expireInstance: true, healthCheckEnabled: false });
    await nacos(url, 'POST', '/instance', { serviceName: 'sw', ip: '127.0.0.1', port: 9050 });
    const r = await nacos(url, 'PUT', '/instance/beat', { serviceName: 'DEFAULT_GROUP@@sw', ip: '127.0.0.1', port: 9050 });
    expect(r.json).toEqual({ clientBeatInterval: 3000, code: 10200, lightBeatEnabled: false });
    expect((await nacos(url, 'PUT', '/operator/switches', { entry: 'check', value: true })).text).toBe('ok');
    expect((await api(url, 'GET', '/v1/switches')).body).toEqual({ activeChecks: true });
    await nacos(url, 'PUT', '/operator/switches', { entry: 'check', value: false });
  });

  it('reports UP with counts in operator/metrics', async () => {
    const m = (await nacos(url, 'GET', '/operator/metrics')).json;
    expect(m).toMatchObject({ status: 'UP', instanceCount: expect.any(Number), serviceCount: expect.any(Number), selfPreservation: { engaged: false } });
  });
});
