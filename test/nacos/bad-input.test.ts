/**
 * Bad input on every Nacos route: 400 with a text body naming the parameter, and nothing changes.
 * Missing things are 404, unknown paths 501.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nacos, startVigil, type Vigil } from './helpers.js';

let vigil: Vigil;
const SVC = 'DEFAULT_GROUP@@shop';
const OK = { serviceName: SVC, ip: '127.0.0.1', port: 8080 };

/** Everything a bad request could have changed. */
async function state(): Promise<string> {
  const get = async (path: string) => (await fetch(new URL(path, vigil.url))).json();
  const instances = (await get('/v1/instances')) as { instances: Array<Record<string, unknown>> };
  return JSON.stringify({
    instances: instances.instances.map(({ health, ...rest }) => ({ ...rest, health: { ...(health as object), since: 0 } })),
    checkers: await get('/v1/checker-configs'),
    whitelist: await get('/v1/whitelist'),
    switches: (await nacos(vigil.url, 'GET', '/operator/switches')).json,
    services: (await nacos(vigil.url, 'GET', '/service/list', { pageNo: 1, pageSize: 100 })).json,
    service: (await nacos(vigil.url, 'GET', '/service', { serviceName: 'made' })).json,
  });
}

beforeAll(async () => {
  // Each case reads the whole state twice, hundreds of reads a second from one address on a quiet
  // machine: the per-address read limit (test/api/rate-limit.test.ts) is not what this test is about.
  vigil = await startVigil({ checks: { enabled: false }, server: { readsPerSecond: 0 } });
  // Nobody beats for it: timeouts of an hour keep it healthy however long a loaded machine takes, so
  // the snapshots compared below differ only by what a bad request changed.
  const metadata = JSON.stringify({ v: '1', 'preserved.heart.beat.timeout': '3600000', 'preserved.ip.delete.timeout': '3600000' });
  expect((await nacos(vigil.url, 'POST', '/instance', { ...OK, metadata })).text).toBe('ok');
  expect((await nacos(vigil.url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@db', ip: '127.0.0.1', port: 3306, ephemeral: false })).text).toBe('ok');
  expect((await nacos(vigil.url, 'POST', '/service', { serviceName: 'made', protectThreshold: 0.5 })).text).toBe('ok');
});

afterAll(async () => {
  await vigil.stop();
});

type Case = readonly [method: string, path: string, params: Record<string, string | number>, param: string];

const beat = (b: Record<string, unknown>) => JSON.stringify({ serviceName: SVC, ip: '127.0.0.1', port: 8080, cluster: 'DEFAULT', ...b });
const hc = (h: unknown) => (typeof h === 'string' ? h : JSON.stringify(h));

/** A selector nested `depth` objects deep (a hostile client; it once caused a RangeError and 500s). */
const deepSelector = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

const CASES: Case[] = [
  ['POST', '/instance', { ip: '127.0.0.1', port: 8080 }, 'serviceName'],
  ['POST', '/instance', { ...OK, port: 'abc' }, 'port'],
  ['POST', '/instance', { ...OK, port: 70000 }, 'port'],
  ['POST', '/instance', { ...OK, ip: '999.1.1.1' }, 'ip'],
  ['POST', '/instance', { serviceName: SVC, port: 8080 }, 'ip'],
  ['POST', '/instance', { ...OK, weight: 20000 }, 'weight'],
  ['POST', '/instance', { ...OK, weight: 'heavy' }, 'weight'],
  ['POST', '/instance', { ...OK, enable: 'maybe' }, 'enable'],
  ['POST', '/instance', { ...OK, ephemeral: 'yes' }, 'ephemeral'],
  ['POST', '/instance', { ...OK, metadata: '{"broken' }, 'metadata'],
  ['POST', '/instance', { ...OK, metadata: '{"preserved.heart.beat.timeout":"soon"}' }, 'metadata'],
  ['POST', '/instance', { ...OK, metadata: '{"preserved.heart.beat.interval":"20000"}' }, 'metadata'],
  ['POST', '/instance', { ...OK, serviceName: 'bad name!' }, 'serviceName'],
  ['POST', '/instance', { ...OK, clusterName: 'bad/cluster' }, 'clusterName'],
  ['POST', '/instance', { ...OK, serviceName: 'DEFAULT_GROUP@@db', port: 3306 }, 'ephemeral'],
  ['DELETE', '/instance', { ip: '127.0.0.1', port: 8080 }, 'serviceName'],
  ['DELETE', '/instance', { ...OK, port: 'abc' }, 'port'],
  ['DELETE', '/instance', { ...OK, ip: '999.1.1.1' }, 'ip'],
  ['PUT', '/instance', { ip: '127.0.0.1', port: 8080, weight: 2 }, 'serviceName'],
  ['PUT', '/instance', { ...OK, port: 'abc' }, 'port'],
  ['PUT', '/instance', { ...OK, weight: 20000 }, 'weight'],
  ['PUT', '/instance', { ...OK, ip: '999.1.1.1' }, 'ip'],
  ['PUT', '/instance', { ...OK, metadata: 'novalue' }, 'metadata'],
  ['GET', '/instance', { ip: '127.0.0.1', port: 8080 }, 'serviceName'],
  ['GET', '/instance', { ...OK, port: 'abc' }, 'port'],
  ['GET', '/instance/list', {}, 'serviceName'],
  ['GET', '/instance/list', { serviceName: SVC, udpPort: 'abc' }, 'udpPort'],
  ['GET', '/instance/list', { serviceName: SVC, healthyOnly: 'maybe' }, 'healthyOnly'],
  ['GET', '/instance/list', { serviceName: SVC, clusters: 'A,bad cluster' }, 'clusters'],
  ['PUT', '/instance/beat', { beat: beat({}) }, 'serviceName'],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: '{"ip":' }, 'beat'],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: beat({ ip: '999.1.1.1' }) }, 'beat'],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: beat({ port: 'abc' }) }, 'beat'],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: beat({ port: 9999, weight: 20000 }) }, 'beat'],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: beat({ port: 9999, metadata: { 'preserved.ip.delete.timeout': 'x' } }) }, 'beat'],
  ['PUT', '/instance/beat', { serviceName: SVC, ip: '127.0.0.1', port: 'abc' }, 'port'],
  ['PUT', '/instance/beat', { serviceName: SVC, ip: '999.1.1.1', port: 8080 }, 'ip'],
  ['PUT', '/health/instance', { ip: '127.0.0.1', port: 8080, healthy: 'false' }, 'serviceName'],
  ['PUT', '/health/instance', { ...OK, port: 'abc', healthy: 'false' }, 'port'],
  ['PUT', '/health/instance', { ...OK }, 'healthy'],
  ['PUT', '/health/instance', { ...OK, healthy: 'maybe' }, 'healthy'],
  ['POST', '/service', {}, 'serviceName'],
  ['POST', '/service', { serviceName: 'new1', protectThreshold: 2 }, 'protectThreshold'],
  ['POST', '/service', { serviceName: 'new2', metadata: '{"x":' }, 'metadata'],
  ['POST', '/service', { serviceName: 'new3', selector: '[1]' }, 'selector'],
  ['POST', '/service', { serviceName: 'made' }, 'serviceName'],
  ['POST', '/service', { serviceName: 'new4', selector: deepSelector(30) }, 'selector'],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: deepSelector(30) }, 'beat'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: deepSelector(30) }, 'healthChecker'],
  ['POST', '/instance', { ...OK, metadata: deepSelector(30) }, 'metadata'],
  ['POST', '/service', { serviceName: 'new5', selector: JSON.stringify({ type: 'label', expression: 'x'.repeat(5000) }) }, 'selector'],
  ['POST', '/service', { serviceName: 'new6', metadata: JSON.stringify({ blob: 'x'.repeat(5000) }) }, 'metadata'],
  ['PUT', '/service', { serviceName: 'made', metadata: JSON.stringify({ blob: 'x'.repeat(5000) }) }, 'metadata'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: hc({ type: 'HTTP', path: `/${'a'.repeat(3000)}` }) }, 'healthChecker'],
  ['GET', '/service', {}, 'serviceName'],
  ['PUT', '/service', { protectThreshold: 0.1 }, 'serviceName'],
  ['PUT', '/service', { serviceName: 'made', protectThreshold: 'abc' }, 'protectThreshold'],
  ['DELETE', '/service', {}, 'serviceName'],
  ['DELETE', '/service', { serviceName: SVC }, 'serviceName'],
  ['GET', '/service/list', { pageSize: 10 }, 'pageNo'],
  ['GET', '/service/list', { pageNo: 1, pageSize: 'abc' }, 'pageSize'],
  ['PUT', '/cluster', { clusterName: 'DEFAULT', healthChecker: hc({ type: 'TCP' }) }, 'serviceName'],
  ['PUT', '/cluster', { serviceName: SVC, healthChecker: hc({ type: 'TCP' }) }, 'clusterName'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT' }, 'healthChecker'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: '{"type":' }, 'healthChecker'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: hc({ type: 'FOO' }) }, 'healthChecker'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: hc({ type: 'TCP', colour: 'red' }) }, 'healthChecker'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: hc({ type: 'HTTP', path: '/a b' }) }, 'healthChecker'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: hc({ type: 'HTTP', headers: 'novalue' }) }, 'healthChecker'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: hc({ type: 'TCP' }), checkPort: 'abc' }, 'checkPort'],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: hc({ type: 'TCP' }), useInstancePort4Check: 'false' }, 'checkPort'],
  ['PUT', '/operator/switches', { value: 'true' }, 'entry'],
  ['PUT', '/operator/switches', { entry: 'nonsense', value: 'true' }, 'entry'],
  ['PUT', '/operator/switches', { entry: 'expireInstance', value: 'perhaps' }, 'value'],
  ['PUT', '/operator/switches', { entry: 'expireInstance' }, 'value'],
  ['PUT', '/operator/switches', { entry: 'clientBeatInterval', value: 'abc' }, 'value'],
  ['PUT', '/operator/switches', { entry: 'clientBeatInterval', value: 60000 }, 'value'],
  ['PUT', '/operator/switches', { entry: 'healthCheckTimes', value: 0 }, 'value'],
  // Bounds: every field has one (docs/nacos.md).
  ['POST', '/instance', { ...OK, serviceName: `DEFAULT_GROUP@@${'s'.repeat(129)}` }, 'serviceName'],
  ['POST', '/instance', { ...OK, groupName: 'g'.repeat(129), serviceName: 'shop' }, 'groupName'],
  ['POST', '/instance', { ...OK, namespaceId: 'n'.repeat(129) }, 'namespaceId'],
  ['POST', '/instance', { ...OK, clusterName: 'c'.repeat(129) }, 'clusterName'],
  ['POST', '/instance', { ...OK, ip: `127.0.0.1${'1'.repeat(60)}` }, 'ip'],
  ['POST', '/instance', { ...OK, port: '8'.repeat(40) }, 'port'],
  ['POST', '/instance', { ...OK, weight: '1'.repeat(80) }, 'weight'],
  ['POST', '/instance', { ...OK, metadata: `k=${'v'.repeat(9000)}` }, 'metadata'],
  ['GET', '/instance/list', { serviceName: SVC, clusters: Array.from({ length: 65 }, (_, i) => `c${i}`).join(',') }, 'clusters'],
  ['PUT', '/service', { serviceName: 'made', selector: deepSelector(17) }, 'selector'],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: beat({ port: 9999, metadata: { blob: 'x'.repeat(5000) } }) }, 'beat'],
  ['GET', '/service/list', { pageNo: 1, pageSize: 10_001 }, 'pageSize'],
  ['PUT', '/operator/switches', { entry: 'e'.repeat(65), value: 'true' }, 'entry'],
];

describe('nacos routes: bad input', () => {
  it.each(CASES)('%s %s %j → 400 naming %s, nothing changed', async (method, path, params, param) => {
    const before = await state();
    const r = await nacos(vigil.url, method, path, params);
    expect(r.status, r.text).toBe(400);
    expect(r.text).toContain(`'${param}'`);
    expect(r.code).toMatch(/^VIGIL_ERR_/);
    expect(await state()).toBe(before);
  });

  it('reads form bodies too, and names the parameter there', async () => {
    const before = await state();
    const r = await nacos(vigil.url, 'POST', '/instance', {}, `serviceName=${SVC}&ip=127.0.0.1&port=abc`);
    expect(r.status).toBe(400);
    expect(r.text).toBe(`Param 'port' is invalid: must be an integer from 1 to 65535, got "abc".`);
    expect(await state()).toBe(before);
  });

  it('bounds JSON parameters sent in a form body, past what a query string can carry', async () => {
    const before = await state();
    const big = encodeURIComponent(hc({ type: 'HTTP', path: `/${'a'.repeat(40_000)}` }));
    const r = await nacos(vigil.url, 'PUT', '/cluster', {}, `serviceName=${SVC}&clusterName=DEFAULT&healthChecker=${big}`);
    expect(r.status).toBe(400);
    expect(r.text).toBe("Param 'healthChecker' is invalid: must be at most 32768 characters.");
    expect(await state()).toBe(before);
  });

  it('says "Param \'serviceName\' is required." as Nacos does', async () => {
    const r = await nacos(vigil.url, 'POST', '/instance', { ip: '127.0.0.1', port: 1 });
    expect(r.text).toBe("Param 'serviceName' is required.");
    expect(r.code).toBe('VIGIL_ERR_REQUEST_INVALID');
  });
});

describe('nacos routes: missing things and unknown paths', () => {
  it.each([
    ['GET', '/instance', { ...OK, port: 9 }],
    ['PUT', '/instance', { ...OK, port: 9, weight: 2 }],
    ['PUT', '/health/instance', { ...OK, port: 9, healthy: 'false' }],
    ['GET', '/service', { serviceName: 'nothing' }],
    ['PUT', '/service', { serviceName: 'nothing', protectThreshold: 0.1 }],
    ['DELETE', '/service', { serviceName: 'nothing' }],
  ] as const)('%s %s of something that does not exist → 404', async (method, path, params) => {
    const before = await state();
    const r = await nacos(vigil.url, method, path, params);
    expect(r.status, r.text).toBe(404);
    expect(r.code).toBe('VIGIL_ERR_NOT_FOUND');
    expect(await state()).toBe(before);
  });

  it.each([
    ['GET', '/nacos/v1/cs/configs'],
    ['PATCH', '/nacos/v1/ns/instance'],
    ['GET', '/nacos/v1/ns/nothing'],
    ['GET', '/nacos'],
  ])('%s %s → 501', async (method, path) => {
    const res = await fetch(new URL(path, vigil.url), { method });
    expect(res.status).toBe(501);
    expect(res.headers.get('x-vigil-error-code')).toBe('VIGIL_ERR_NOT_IMPLEMENTED');
    expect(await res.text()).toMatch(/not implemented/);
  });

  it('answers ok to deregistering an unknown instance, as Nacos does', async () => {
    const r = await nacos(vigil.url, 'DELETE', '/instance', { ...OK, port: 9 });
    expect([r.status, r.text]).toEqual([200, 'ok']);
  });

  it('answers an empty host list for an unknown service', async () => {
    const r = await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@ghost', clusters: 'DEFAULT' });
    expect(r.json).toMatchObject({ name: 'DEFAULT_GROUP@@ghost', clusters: 'DEFAULT', hosts: [] });
  });
});
