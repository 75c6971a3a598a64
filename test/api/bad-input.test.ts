import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { api, removeDir, tempDir } from '../helpers/daemon.js';

let app: App;
let url: string;
let dataDir: string;

/** `{ a: { a: … } }`, `depth` objects deep. */
const nested = (depth: number): unknown => Array.from({ length: depth }).reduce<unknown>((inner) => ({ a: inner }), 'x');

const good = { service: 'orders-db', ip: '127.0.0.1', port: 3306, checker: { type: 'tcp' } };

beforeAll(async () => {
  dataDir = tempDir();
  app = buildApp(parseConfig({ api: { port: 0 }, store: { dataDir }, checks: { enabled: false } }), { logger: pino({ level: 'silent' }) });
  ({ url } = await app.start());
  expect((await api(url, 'POST', '/v1/instances', good)).status).toBe(201);
});

afterAll(async () => {
  await app.stop();
  removeDir(dataDir);
});

const cases: Array<[string, unknown, string, string]> = [
  ['a bad IP', { ...good, ip: '999.1.1.1' }, 'ip', 'VIGIL_ERR_REQUEST_INVALID'],
  ['a hostname instead of an IP', { ...good, ip: 'db.example' }, 'ip', 'VIGIL_ERR_REQUEST_INVALID'],
  ['port 70000', { ...good, port: 70000 }, 'port', 'VIGIL_ERR_REQUEST_INVALID'],
  ['port 0', { ...good, port: 0 }, 'port', 'VIGIL_ERR_REQUEST_INVALID'],
  ['weight -1', { ...good, weight: -1 }, 'weight', 'VIGIL_ERR_REQUEST_INVALID'],
  ['weight 20000', { ...good, weight: 20000 }, 'weight', 'VIGIL_ERR_REQUEST_INVALID'],
  ['oversized metadata', { ...good, metadata: { blob: 'x'.repeat(5000) } }, 'metadata', 'VIGIL_ERR_REQUEST_INVALID'],
  ['a missing service', { ip: '127.0.0.1', port: 1 }, 'service', 'VIGIL_ERR_REQUEST_INVALID'],
  ['a bad service name', { ...good, service: 'a b' }, 'service', 'VIGIL_ERR_REQUEST_INVALID'],
  ['an unknown top-level key', { ...good, colour: 'red' }, 'colour', 'VIGIL_ERR_REQUEST_INVALID'],
  ['an unknown checker type', { ...good, checker: { type: 'gopher' } }, 'checker.type', 'VIGIL_ERR_CHECKER_UNKNOWN_TYPE'],
  ['an unknown checker option', { ...good, checker: { type: 'tcp', options: { colour: 'red' } } }, 'checker.options.colour', 'VIGIL_ERR_CHECKER_OPTION_INVALID'],
  ['a checker option of the wrong type', { ...good, checker: { type: 'http', options: { path: 42 } } }, 'checker.options.path', 'VIGIL_ERR_CHECKER_OPTION_INVALID'],
  ['an HTTP path of 3,000 characters', { ...good, checker: { type: 'http', options: { path: `/${'a'.repeat(3000)}` } } }, 'checker.options.path', 'VIGIL_ERR_CHECKER_OPTION_INVALID'],
  ['checker options of 20 KB', { ...good, checker: { type: 'tcp', options: { send: 'x'.repeat(20_000) } } }, 'checker.options', 'VIGIL_ERR_REQUEST_INVALID'],
  ['a body nested 40 deep', { ...good, metadata: nested(40) }, 'body', 'VIGIL_ERR_REQUEST_INVALID'],
  ['a timeout not shorter than the interval', { ...good, checker: { type: 'tcp', intervalMs: 1000, timeoutMs: 1000 } }, 'checker.timeoutMs', 'VIGIL_ERR_REQUEST_INVALID'],
];

describe('bad registrations', () => {
  it.each(cases)('refuses %s with a 4xx naming the field and changes nothing', async (_name, body, field, code) => {
    const before = (await api(url, 'GET', '/v1/instances')).body;
    const res = await api(url, 'POST', '/v1/instances', body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code, field });
    expect(typeof res.body.message).toBe('string');
    expect((await api(url, 'GET', '/v1/instances')).body).toEqual(before);
  });

  it('refuses broken JSON with VIGIL_ERR_REQUEST_BODY and changes nothing', async () => {
    const before = (await api(url, 'GET', '/v1/instances')).body;
    const res = await api(url, 'POST', '/v1/instances', '{"service": "x", "ip": ');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VIGIL_ERR_REQUEST_BODY', field: 'body' });
    expect((await api(url, 'GET', '/v1/instances')).body).toEqual(before);
  });

  it('refuses a bad whitelist entry naming the field', async () => {
    const res = await api(url, 'POST', '/v1/whitelist', { cidr: '10.0.0.0/33', reason: 'x' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VIGIL_ERR_REQUEST_INVALID', field: 'cidr' });
    expect((await api(url, 'GET', '/v1/whitelist')).body.entries).toEqual([]);
  });

  it.each([
    ['service', { service: 'a b', reason: 'x' }],
    ['service', { service: 'grp@@a b', reason: 'x' }],
    ['namespace', { namespace: 'x/y', service: 'svc', reason: 'x' }],
    ['cluster', { service: 'svc', cluster: 'c'.repeat(200), reason: 'x' }],
  ])('refuses a whitelist entry whose %s is not a valid name', async (field, entry) => {
    const res = await api(url, 'POST', '/v1/whitelist', entry);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VIGIL_ERR_REQUEST_INVALID', field });
    expect((await api(url, 'GET', '/v1/whitelist')).body.entries).toEqual([]);
  });

  it('refuses a service checker config with an unknown option, naming the field, and stores nothing', async () => {
    const res = await api(url, 'PUT', '/v1/checker-configs', { service: 'orders-db', checker: { type: 'http', options: { verb: 'GET' } } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VIGIL_ERR_CHECKER_OPTION_INVALID', field: 'checker.options.verb' });
    expect((await api(url, 'GET', '/v1/checker-configs')).body.checkerConfigs).toEqual([]);
  });

  it('answers 503 VIGIL_ERR_STORE when the store cannot take a registration, and keeps memory as the store is', async () => {
    const before = (await api(url, 'GET', '/v1/instances')).body;
    const other = new Database(join(dataDir, 'vigil.db'));
    other.exec('ALTER TABLE instances RENAME TO instances_away'); // a real store failure
    try {
      const res = await api(url, 'POST', '/v1/instances', { ...good, port: 3307 });
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 'VIGIL_ERR_STORE', field: 'store' });
      expect((await api(url, 'GET', '/v1/instances')).body).toEqual(before);
    } finally {
      other.exec('ALTER TABLE instances_away RENAME TO instances');
      other.close();
    }
    expect((await api(url, 'POST', '/v1/instances', { ...good, port: 3307 })).status).toBe(201);
    expect((await api(url, 'DELETE', '/v1/instances?service=orders-db&ip=127.0.0.1&port=3307')).status).toBe(200);
  });

  it('answers 404 with VIGIL_ERR_NOT_FOUND when deregistering an unknown instance', async () => {
    const res = await api(url, 'DELETE', '/v1/instances?service=nope&ip=127.0.0.1&port=1');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('VIGIL_ERR_NOT_FOUND');
  });
});

describe('the API token', () => {
  let tokenApp: App;
  let tokenUrl: string;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    tokenApp = buildApp(parseConfig({ api: { port: 0, token: 's3cret' }, store: { dataDir: dir }, checks: { enabled: false } }), { logger: pino({ level: 'silent' }) });
    ({ url: tokenUrl } = await tokenApp.start());
  });
  afterAll(async () => {
    await tokenApp.stop();
    removeDir(dir);
  });

  it('refuses writes without the token and changes nothing; reads stay open', async () => {
    const res = await api(tokenUrl, 'POST', '/v1/instances', good);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('VIGIL_ERR_UNAUTHORIZED');
    expect((await api(tokenUrl, 'GET', '/v1/instances')).body.instances).toEqual([]);
    const ok = await api(tokenUrl, 'POST', '/v1/instances', good, { authorization: 'Bearer s3cret' });
    expect(ok.status).toBe(201);
  });
});
