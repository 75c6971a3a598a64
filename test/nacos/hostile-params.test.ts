/**
 * Hostile parameters on every Nacos route, generated from a fixed seed (the same requests every
 * run): whatever a client sends, the answer is never a 5xx, every refusal carries a stable code,
 * and the daemon keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NS, startVigil, type Vigil } from './helpers.js';
import { prng } from '../helpers/tools.js';

let vigil: Vigil;
const SVC = 'DEFAULT_GROUP@@fuzz';

const BEAT = JSON.stringify({ serviceName: SVC, ip: '127.0.0.1', port: 8080, cluster: 'DEFAULT', weight: 1, metadata: {} });
const ROUTES: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
  ['POST', '/instance', { serviceName: SVC, ip: '127.0.0.1', port: '8080', weight: '1', enable: 'true', healthy: 'true', ephemeral: 'true', metadata: '{"a":"1"}', clusterName: 'DEFAULT' }],
  ['DELETE', '/instance', { serviceName: SVC, ip: '127.0.0.1', port: '8081', ephemeral: 'true' }],
  ['PUT', '/instance', { serviceName: SVC, ip: '127.0.0.1', port: '8080', weight: '2', metadata: 'a=1' }],
  ['GET', '/instance', { serviceName: SVC, ip: '127.0.0.1', port: '8080' }],
  ['GET', '/instance/list', { serviceName: SVC, clusters: 'DEFAULT', healthyOnly: 'false', udpPort: '0' }],
  ['PUT', '/instance/beat', { serviceName: SVC, beat: BEAT }],
  ['PUT', '/instance/beat', { serviceName: SVC, ip: '127.0.0.1', port: '8080', clusterName: 'DEFAULT' }],
  ['PUT', '/health/instance', { serviceName: SVC, ip: '127.0.0.1', port: '8080', healthy: 'true' }],
  ['POST', '/service', { serviceName: 'fuzz-new', protectThreshold: '0.5', metadata: '{}', selector: '{"type":"none"}' }],
  ['PUT', '/service', { serviceName: SVC, protectThreshold: '0.1', selector: '{"type":"none"}' }],
  ['DELETE', '/service', { serviceName: 'fuzz-new' }],
  ['GET', '/service', { serviceName: SVC }],
  ['GET', '/service/list', { pageNo: '1', pageSize: '10', groupName: 'DEFAULT_GROUP' }],
  ['PUT', '/cluster', { serviceName: SVC, clusterName: 'DEFAULT', healthChecker: '{"type":"TCP"}', useInstancePort4Check: 'true' }],
  ['PUT', '/operator/switches', { entry: 'healthCheckTimes', value: '3' }],
  ['GET', '/operator/switches', {}],
  ['GET', '/operator/metrics', {}],
];

const HOSTILE = [
  '', ' ', '\t', 'null', 'undefined', 'true', 'NaN', 'Infinity', '-1', '0', '1e309', '0x1F', '1.5', '65536', '99999999999999999999',
  '__proto__', 'constructor', 'toString', '%00', '\u0000', '\u202e', '😀', 'DEFAULT_GROUP@@', '@@', '@@@@x', 'a@@b@@c', 'a,b,,c', ',',
  '::', '::ffff:127.0.0.1', '127.0.0.1 ', '999.1.1.1', '{', '{}', '[]', '[1,2]', '{"a":null}', '{"__proto__":{"x":1}}', '"str"',
  '{"type":"HTTP","path":"/","headers":"a:b|c"}', '{"type":"MYSQL","user":"u","pwd":"p","cmd":"select 1"}', '{"type":"NONE"}',
  '{"ip":"127.0.0.1","port":"8080"}', '{"ip":"127.0.0.1","port":8080,"metadata":[1]}', '{"ip":"127.0.0.1","port":8080,"weight":"x"}',
  'k=v,k2', '=v', 'a=b=c', '{"a":'.repeat(40) + '1' + '}'.repeat(40), '['.repeat(40) + ']'.repeat(40), 'x'.repeat(300), 'x'.repeat(5000),
  JSON.stringify({ blob: 'x'.repeat(5000) }), 'DEFAULT_GROUP@@' + 'y'.repeat(200),
];
const EXTRA_NAMES = ['namespaceId', 'groupName', 'clusterName', 'clusters', 'weight', 'port', 'ip', 'beat', 'metadata', 'selector', 'healthChecker', 'checkPort', 'entry', 'value', 'pageNo', 'pageSize', 'udpPort', 'enabled', 'healthy', 'ephemeral', '__proto__'];

beforeAll(async () => {
  // Many reads in a burst from one address: the read limit is not what this test is about.
  vigil = await startVigil({ checks: { enabled: false }, server: { readsPerSecond: 0 } });
});

afterAll(async () => {
  await vigil.stop();
});

describe('nacos routes under hostile parameters', () => {
  it('never answers 5xx, refuses with a stable code, and keeps serving', async () => {
    const rand = prng(9);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const failures: string[] = [];
    const seen = { accepted: 0, refused: 0 };
    for (let i = 0; i < 600; i++) {
      const [method, path, base] = pick(ROUTES);
      const params: Record<string, string> = { ...base };
      const names = [...Object.keys(base), ...EXTRA_NAMES];
      for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) params[pick(names)] = pick(HOSTILE);
      const inBody = rand() < 0.3;
      const url = new URL(`${NS}${path}`, vigil.url);
      const form = new URLSearchParams(params).toString();
      if (!inBody) url.search = form;
      const res = await fetch(url, {
        method,
        ...(inBody && method !== 'GET' ? { body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
      });
      const text = await res.text();
      const code = res.headers.get('x-vigil-error-code');
      if (res.status < 300) seen.accepted++;
      else seen.refused++;
      if (res.status >= 500 || (res.status >= 400 && !/^VIGIL_ERR_[A-Z_]+$/.test(code ?? ''))) {
        failures.push(`${method} ${path} ${JSON.stringify(params).slice(0, 300)} → ${res.status} ${code} ${text.slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
    // Both paths were exercised: hostile values that parse, and refusals.
    expect(seen.accepted).toBeGreaterThan(50);
    expect(seen.refused).toBeGreaterThan(50);
    const health = await fetch(new URL('/healthz', vigil.url));
    expect(health.status).toBe(200);
  });

  it('refuses JSON bodies nested past the bound on every route, naming the body', async () => {
    const deep = '{"a":'.repeat(40) + '1' + '}'.repeat(40);
    for (const [method, path] of ROUTES) {
      if (method === 'GET') continue;
      const res = await fetch(new URL(`${NS}${path}`, vigil.url), { method, body: deep, headers: { 'content-type': 'application/json' } });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.headers.get('x-vigil-error-code')).toBe('VIGIL_ERR_REQUEST_INVALID');
    }
  });
});
