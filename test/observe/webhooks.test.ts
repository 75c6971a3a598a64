import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { isVigilError } from '../../src/errors.js';
import { verify } from '../../src/observe/webhook-signature.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, tempDir, waitFor } from '../helpers/daemon.js';
import { startHttpServer, type TestServer } from '../helpers/servers.js';
import { startApp, type TestApp } from './app.js';

const SECRET = 'a-webhook-secret-of-some-length';

interface Delivery {
  readonly body: any;
  readonly raw: string;
  readonly headers: IncomingMessage['headers'];
  readonly status: number;
}

/** A receiver that answers each request with the status `answer` picks, and keeps every request. */
async function receiver(answer: (body: any, n: number) => number | Promise<number>) {
  const got: Delivery[] = [];
  const server = await startHttpServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw);
    const status = await answer(body, got.length);
    got.push({ body, raw, headers: req.headers, status });
    res.statusCode = status;
    res.end();
  });
  return { server, got, accepted: () => got.filter((d) => d.status === 200).map((d) => d.body) };
}

const hook = (server: TestServer, extra: object = {}) => ({ name: 'ops', url: `http://127.0.0.1:${server.port}/hook`, secret: SECRET, backoffMs: 20, maxBackoffMs: 100, ...extra });

describe('webhooks', () => {
  let t: TestApp;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let flaky: Awaited<ReturnType<typeof receiver>>;
  let failuresLeft = 3;

  beforeAll(async () => {
    // The first event of instance a is answered slowly: its later events must still come after it.
    let slowed = false;
    rx = await receiver(async (body) => {
      if (!slowed && body.scope?.instance?.endsWith(':1001') && body.type === 'health-changed') {
        slowed = true;
        await new Promise((r) => setTimeout(r, 300));
      }
      return 200;
    });
    flaky = await receiver(() => (failuresLeft-- > 0 ? 500 : 200));
    t = await startApp({
      checks: { enabled: false },
      observe: { webhooks: [hook(rx.server, { events: ['health-changed'] }), hook(flaky.server, { name: 'flaky', events: ['whitelist-added'], secret: undefined, secretFile: secretFile(SECRET) })] },
    });
  });
  afterAll(async () => {
    await t.stop();
    await Promise.all([rx.server.close(), flaky.server.close()]);
  });

  it('delivers signed events, in order per instance', async () => {
    const ports = [1001, 1002];
    for (const port of ports) await api(t.url, 'POST', '/v1/instances', { service: 'db', ip: '127.0.0.1', port });
    for (let i = 0; i < 4; i++) {
      for (const port of ports) {
        const res = await api(t.url, 'PUT', '/v1/overrides', { service: 'db', ip: '127.0.0.1', port, healthy: i % 2 === 1, reason: `step ${i}` });
        expect(res.status).toBe(200);
      }
    }
    await waitFor(() => rx.accepted().length === 8);
    for (const port of ports) {
      const mine = rx.accepted().filter((b) => b.scope.instance.endsWith(`:${port}`));
      expect(mine.map((b) => b.data.override.reason)).toEqual(['step 0', 'step 1', 'step 2', 'step 3']);
      expect(mine.map((b) => b.data.healthy)).toEqual([false, true, false, true]);
    }
    // The slow first event of :1001 did not hold up :1002.
    expect(rx.got.findIndex((d) => d.body.scope.instance.endsWith(':1002'))).toBe(0);
    for (const d of rx.got) {
      const sig = String(d.headers['x-vigil-signature']);
      const [, ts, mac] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig)!;
      expect(createHmac('sha256', SECRET).update(`${ts}.${d.raw}`).digest('hex')).toBe(mac);
      expect(verify(SECRET, sig, d.raw, Date.now())).toBe(true);
      expect(verify('another-secret-entirely', sig, d.raw, Date.now())).toBe(false);
      expect(d.headers['x-vigil-event']).toBe('health-changed');
      expect(d.headers['x-vigil-event-id']).toBe(d.body.id);
    }
  });

  it('retries an endpoint that answers 500 three times, and it receives each event once', async () => {
    await api(t.url, 'POST', '/v1/whitelist', { service: 'one', reason: 'first' });
    await api(t.url, 'POST', '/v1/whitelist', { service: 'two', reason: 'second' });
    await waitFor(() => flaky.accepted().length === 2);
    expect(flaky.got.map((d) => [d.body.data.entry.reason, d.status, d.headers['x-vigil-delivery-attempt']])).toEqual([
      ['first', 500, '1'],
      ['first', 500, '2'],
      ['first', 500, '3'],
      ['first', 200, '4'],
      ['second', 200, '1'],
    ]);
    // Its secret came from a file: the signature is made with the file's content.
    for (const d of flaky.got) expect(verify(SECRET, String(d.headers['x-vigil-signature']), d.raw, Date.now())).toBe(true);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_webhook_deliveries_total\{endpoint="flaky",result="retried"\} 3$/m);
    expect(metrics).toMatch(/^vigil_webhook_deliveries_total\{endpoint="flaky",result="delivered"\} 2$/m);
  });
});

const secretFile = (content: string): string => {
  const file = join(tempDir(), 'hook-secret');
  writeFileSync(file, `${content}\n`);
  return file;
};

describe('webhook configuration', () => {
  const start = async (webhooks: unknown[]) => {
    try {
      await buildApp(parseConfig({ api: { port: 0 }, observe: { webhooks } })).start();
      expect.unreachable();
    } catch (err) {
      return err as { code: string; field: string };
    }
  };
  const ok = { name: 'a', url: 'http://127.0.0.1:9/x', secret: SECRET };

  it('refuses a malformed endpoint at start-up, naming the field', async () => {
    const cases: Array<[unknown[], string, string]> = [
      [[{ ...ok, url: 'ftp://127.0.0.1/x' }], 'VIGIL_ERR_CONFIG_INVALID', 'observe.webhooks.0.url'],
      [[{ ...ok, secret: 'short' }], 'VIGIL_ERR_CONFIG_INVALID', 'observe.webhooks.0.secret'],
      [[{ ...ok, retries: 3 }], 'VIGIL_ERR_CONFIG_UNKNOWN_KEY', 'observe.webhooks.0.retries'],
      [[ok, ok], 'VIGIL_ERR_WEBHOOK_CONFIG', 'observe.webhooks.1.name'],
      [[{ ...ok, events: ['health-changed', 'healthchanged'] }], 'VIGIL_ERR_WEBHOOK_CONFIG', 'observe.webhooks.0.events.1'],
      [[{ name: 'a', url: ok.url }], 'VIGIL_ERR_CONFIG_INVALID', 'observe.webhooks.0.secret'],
      [[{ ...ok, secretEnv: 'VIGIL_TEST_HOOK_SECRET' }], 'VIGIL_ERR_CONFIG_INVALID', 'observe.webhooks.0.secret'],
      [[{ name: 'a', url: ok.url, secretEnv: 'VIGIL_TEST_UNSET_SECRET_VARIABLE' }], 'VIGIL_ERR_SECRET_UNAVAILABLE', 'observe.webhooks.0.secretEnv'],
      [[{ name: 'a', url: ok.url, secretFile: secretFile('short') }], 'VIGIL_ERR_WEBHOOK_CONFIG', 'observe.webhooks.0.secretFile'],
    ];
    for (const [hooks, code, field] of cases) {
      const err = await start(hooks);
      expect(isVigilError(err), field).toBe(true);
      expect(err, field).toMatchObject({ code, field });
    }
  });
});
