import { afterAll, describe, expect, it } from 'vitest';
import http from '../../checkers/http.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { startHttpServer, type TestServer } from '../helpers/servers.js';

const runner = createRunner();
const pool = createResourcePool();
let server: TestServer | undefined;

afterAll(async () => {
  await pool.closeAll();
  await server?.close();
});

describe('http checker: kept-alive clients', () => {
  it('gives two configs on one target that differ only in connectTimeoutMs their own client', async () => {
    server = await startHttpServer((_, res) => res.end('ok'));
    const target = { host: '127.0.0.1', port: server.port, metadata: {} };
    const probe = (connectTimeoutMs: number) =>
      runner.run({ checker: http, target, options: parseOptions(http, { connectTimeoutMs }), timeoutMs: 2000, resources: pool.scope('http') });

    expect(await probe(100)).toMatchObject({ status: 'ok' });
    expect(await probe(100)).toMatchObject({ status: 'ok' });
    expect(pool.size).toBe(1); // the same options reuse their client and its connection
    expect(await probe(900)).toMatchObject({ status: 'ok' });
    expect(pool.size).toBe(2);
    expect(server.connections).toBe(2);
  });
});
