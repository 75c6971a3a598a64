/**
 * The authorization gate is decided on the route that runs, never on the raw URL: every spelling of
 * every protected route (encoded letters, %2F, double and trailing slashes, case, dot segments,
 * `;x`, query strings) is refused or not found, and nothing changes.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVigil, type Vigil } from '../nacos/helpers.js';

const TOKEN = 'gate-test-token-7f3a';
let vigil: Vigil;

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly code: string | undefined;
}

/** Sends `path` byte for byte (node's http client does not normalize it). */
function send(method: string, path: string, opts: { body?: string; type?: string; auth?: boolean } = {}): Promise<Answer> {
  const u = new URL(vigil.url);
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) {
    headers['content-type'] = opts.type ?? 'application/json';
    headers['content-length'] = String(Buffer.byteLength(opts.body));
  }
  if (opts.auth) headers.authorization = `Bearer ${TOKEN}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        let code = res.headers['x-vigil-error-code'] as string | undefined;
        if (code === undefined) {
          try {
            code = (JSON.parse(body) as { code?: string }).code;
          } catch {
            // a text body
          }
        }
        resolve({ status: res.statusCode ?? 0, body, code });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Everything a write could change, read with the token (checks are off, so probes change nothing). */
async function snapshot(): Promise<string> {
  const parts = await Promise.all(
    ['/v1/instances', '/v1/switches', '/v1/whitelist', '/v1/checker-configs', '/nacos/v1/ns/operator/switches', '/nacos/v1/ns/service/list?pageNo=1&pageSize=100', '/nacos/v1/ns/service?serviceName=gate-svc'].map(
      async (p) => (await send('GET', p, { auth: true })).body,
    ),
  );
  return parts.join('\n');
}

/** Spellings of one path; the ones that still name the route must meet its check, the rest 404/501. */
function variants(path: string, query: string): string[] {
  const segs = path.split('/').filter(Boolean);
  const last = segs.length - 1;
  const enc = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const withSeg = (i: number, s: string) => join(segs.map((x, j) => (j === i ? s : x)));
  const q = query === '' ? '' : `?${query}`;
  const out = [
    path,
    withSeg(0, enc(segs[0]![0]!) + segs[0]!.slice(1)),
    withSeg(last, enc(segs[last]![0]!) + segs[last]!.slice(1)),
    withSeg(last, enc(segs[last]![0]!).toUpperCase() + segs[last]!.slice(1)),
    withSeg(last, [...segs[last]!].map(enc).join('')),
    withSeg(last, `%25${segs[last]!.charCodeAt(0).toString(16)}${segs[last]!.slice(1)}`),
    `/${segs.join('%2F')}`,
    `/${segs.join('%2f')}`,
    `/${path}`,
    `${path.replace(/\/(?=[^/]*$)/, '//')}`,
    `${path}/`,
    `${path}//`,
    path.toUpperCase(),
    withSeg(last, segs[last]!.toUpperCase()),
    `${join(segs.slice(0, last))}/./${segs[last]}`,
    `${join(segs.slice(0, last))}/x/../${segs[last]}`,
    `${join(segs.slice(0, last))}/%2e/${segs[last]}`,
    `${join(segs.slice(0, last))}/x/%2e%2e/${segs[last]}`,
    `/.${path}`,
    `${path}/.`,
    `${path};x`,
    `${path};x=1`,
    `${withSeg(0, `${segs[0]};x`)}`,
    `${path}%00`,
    `${path}%20`,
  ];
  return [...out.map((p) => p + q), `${path}?${query}&x=1`, `${path}?access=public&${query}`];
}

interface Protected {
  readonly method: string;
  readonly path: string;
  readonly query?: string;
  readonly body?: string;
  readonly type?: string;
}

const instance = JSON.stringify({ service: 'gate-svc', ip: '127.0.0.1', port: 9, checker: { type: 'tcp' } });
const form = 'application/x-www-form-urlencoded';
const NACOS_INSTANCE = 'serviceName=DEFAULT_GROUP%40%40gate-nacos&ip=127.0.0.2&port=9&ephemeral=false';

const PROTECTED: Protected[] = [
  { method: 'POST', path: '/v1/instances', body: instance },
  { method: 'PUT', path: '/v1/instances', body: instance },
  { method: 'PUT', path: '/v1/checker-configs', body: JSON.stringify({ service: 'gate-svc', checker: { type: 'tcp' } }) },
  { method: 'POST', path: '/v1/whitelist', body: JSON.stringify({ service: 'gate-svc', reason: 'x' }) },
  { method: 'PUT', path: '/v1/overrides', body: JSON.stringify({ service: 'gate-svc', ip: '127.0.0.1', port: 9, healthy: false }) },
  { method: 'DELETE', path: '/v1/overrides', query: 'service=gate-svc&ip=127.0.0.1&port=9' },
  { method: 'PUT', path: '/v1/switches', body: JSON.stringify({ activeChecks: false }) },
  { method: 'PUT', path: '/v1/beat', body: JSON.stringify({ service: 'gate-eph', ip: '127.0.0.3', port: 9 }) },
  { method: 'POST', path: '/nacos/v1/ns/instance', query: NACOS_INSTANCE },
  { method: 'PUT', path: '/nacos/v1/ns/instance', query: NACOS_INSTANCE },
  { method: 'PUT', path: '/nacos/v1/ns/instance/beat', query: `serviceName=gate-eph&beat=${encodeURIComponent(JSON.stringify({ serviceName: 'DEFAULT_GROUP@@gate-eph', ip: '127.0.0.4', port: 9, cluster: 'DEFAULT' }))}` },
  { method: 'PUT', path: '/nacos/v1/ns/health/instance', query: 'serviceName=gate-svc&ip=127.0.0.1&port=9&healthy=false' },
  { method: 'PUT', path: '/nacos/v1/ns/cluster', query: `serviceName=gate-svc&clusterName=DEFAULT&healthChecker=${encodeURIComponent('{"type":"NONE"}')}` },
  { method: 'POST', path: '/nacos/v1/ns/service', query: 'serviceName=gate-new' },
  { method: 'PUT', path: '/nacos/v1/ns/service', query: 'serviceName=gate-svc&protectThreshold=0.5' },
  { method: 'DELETE', path: '/nacos/v1/ns/service', body: 'serviceName=gate-empty', type: form },
  { method: 'PUT', path: '/nacos/v1/ns/operator/switches', query: 'entry=healthCheckEnabled&value=false' },
  // Last: the routes above address this instance.
  { method: 'DELETE', path: '/v1/instances', query: 'service=gate-svc&ip=127.0.0.1&port=9' },
  { method: 'DELETE', path: '/nacos/v1/ns/instance', query: 'serviceName=gate-svc&ip=127.0.0.1&port=9&ephemeral=false' },
];

beforeAll(async () => {
  vigil = await startVigil({ api: { token: TOKEN }, checks: { enabled: false } });
  expect((await send('POST', '/v1/instances', { body: instance, auth: true })).status).toBe(201);
  expect((await send('POST', '/nacos/v1/ns/service?serviceName=gate-empty', { auth: true })).status).toBe(200);
  expect((await send('POST', '/nacos/v1/ns/instance?serviceName=gate-eph&ip=127.0.0.3&port=9&ephemeral=true', { auth: true })).status).toBe(200);
});

afterAll(async () => {
  await vigil?.stop();
});

describe('one gate on the matched route', () => {
  it.each(PROTECTED)('refuses every spelling of $method $path without a credential and changes nothing', async (route) => {
    const before = await snapshot();
    const tried = variants(route.path, route.query ?? '');
    expect(tried.length).toBeGreaterThanOrEqual(20);
    const nacosRoute = route.path.startsWith('/nacos/');
    for (const path of tried) {
      const res = await send(route.method, path, route.body !== undefined ? { body: route.body, ...(route.type ? { type: route.type } : {}) } : {});
      // Unknown Nacos paths answer 501 as Nacos does; everything else is refused or not found.
      expect([401, 403, 404, ...(nacosRoute ? [501] : [])], `${route.method} ${path} -> ${res.status} ${res.body}`).toContain(res.status);
      if (res.status === 401 || res.status === 403) expect(res.code).toBe('VIGIL_ERR_UNAUTHORIZED');
    }
    // A request-target that is not a URL at all never reaches routing: Node's parser answers 400.
    expect((await send(route.method, route.path.replace(/\//g, '\\'))).status).toBe(400);
    // The plain path and an encoded letter reach the route, and the route's check refuses them.
    const plain = await send(route.method, tried[0]!, route.body !== undefined ? { body: route.body, ...(route.type ? { type: route.type } : {}) } : {});
    expect(plain.status).toBe(nacosRoute ? 403 : 401);
    const encoded = await send(route.method, tried[2]!, route.body !== undefined ? { body: route.body, ...(route.type ? { type: route.type } : {}) } : {});
    expect(encoded.status).toBe(nacosRoute ? 403 : 401);
    expect(await snapshot()).toBe(before);
  });

  it('lets the same requests through with the token (the refusals above were the gate)', async () => {
    for (const route of PROTECTED) {
      const path = route.query ? `${route.path}?${route.query}` : route.path;
      const res = await send(route.method, path, { auth: true, ...(route.body !== undefined ? { body: route.body } : {}), ...(route.type ? { type: route.type } : {}) });
      expect(res.status, `${route.method} ${path}: ${res.body}`).toBeLessThan(300);
    }
  });

  it('refuses a wrong bearer token with 401 VIGIL_ERR_AUTH_INVALID, compared in constant time', async () => {
    const res = await send('PUT', '/v1/switches', { body: JSON.stringify({ activeChecks: false }), auth: false });
    expect(res.status).toBe(401);
    const wrong = await new Promise<Answer>((resolve, reject) => {
      const u = new URL(vigil.url);
      const req = http.request({ host: u.hostname, port: u.port, method: 'PUT', path: '/v1/switches', headers: { authorization: `Bearer ${TOKEN}x`, 'content-type': 'application/json' }, agent: false }, (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (d: string) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body, code: (JSON.parse(body) as { code: string }).code }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ activeChecks: false }));
    });
    expect(wrong.status).toBe(401);
    expect(wrong.code).toBe('VIGIL_ERR_AUTH_INVALID');
    expect(wrong.body).not.toContain(TOKEN);
  });

  it('keeps reads open by default and the daemon health public', async () => {
    expect((await send('GET', '/v1/instances')).status).toBe(200);
    expect((await send('GET', '/healthz')).status).toBe(200);
  });
});
