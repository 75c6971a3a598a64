import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, waitFor } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, TEST_USER, type MariaDb } from '../helpers/mariadb.js';
import { startHttpServer, startTcpServer, type TestServer } from '../helpers/servers.js';
import { promtool, sample } from '../helpers/promtool.js';
import { describeWithBinary } from '../helpers/tools.js';
import { startApp, type TestApp } from './app.js';

describeWithBinary('promtool', 'prometheus', 'GET /metrics', () => {
  describeMariaDb('with instances of every checker type', () => {
    let db: MariaDb;
    let web: TestServer;
    let tcp: TestServer;
    let t: TestApp;

    beforeAll(async () => {
      [db, web, tcp] = await Promise.all([startMariaDb(), startHttpServer((_q, s) => s.end('ok')), startTcpServer((s) => s.end())]);
      t = await startApp({ checks: { intervalMs: 500, timeoutMs: 400 }, observe: { metrics: { instanceSeries: true, maxInstanceSeries: 2 } } });
      const reg = (service: string, port: number, checker: object) => api(t.url, 'POST', '/v1/instances', { service, ip: '127.0.0.1', port, checker });
      expect((await reg('web', web.port, { type: 'http', options: { path: '/' } })).status).toBe(201);
      expect((await reg('cache', tcp.port, { type: 'tcp' })).status).toBe(201);
      expect((await reg('orders-db', db.port, { type: 'mysql', options: { ...TEST_USER } })).status).toBe(201);
      await waitFor(async () => {
        const list = (await api(t.url, 'GET', '/v1/instances')).body.instances as Array<{ lastProbe: unknown }>;
        return list.every((i) => i.lastProbe) && list;
      }, 20_000);
    });

    afterAll(async () => {
      await t?.stop();
      await Promise.all([db?.stop(), web?.close(), tcp?.close()]);
    });

    it('passes promtool check metrics and counts probes of every checker', async () => {
      const res = await fetch(`${t.url}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const check = await promtool(text);
      expect(check.out).toBe('');
      expect(check.code).toBe(0);
      for (const checker of ['http', 'tcp', 'mysql']) {
        expect(sample(text, `vigil_probes_total{checker="${checker}",result="ok"}`), checker).toBeGreaterThan(0);
        expect(sample(text, `vigil_probe_duration_seconds_count{checker="${checker}"}`), checker).toBeGreaterThan(0);
      }
      expect(sample(text, 'vigil_instances{kind="persistent",health="up"}')).toBe(3);
      expect(sample(text, 'vigil_scheduler_lag_seconds_count')).toBeGreaterThan(0);
      expect(sample(text, 'vigil_api_requests_total{route="/v1/instances",method="POST",status="201"}')).toBe(3);
      expect(text).toMatch(/^process_cpu_seconds_total /m);
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    });

    it('caps the per-instance series at maxInstanceSeries and says it did', async () => {
      const text = await (await fetch(`${t.url}/metrics`)).text();
      expect(text.split('\n').filter((l) => l.startsWith('vigil_instance_up{'))).toHaveLength(2);
      expect(sample(text, 'vigil_instance_series_truncated')).toBe(1);
    });

    it('counts a health transition by checker and direction', async () => {
      await tcp.close();
      await waitFor(async () => {
        const text = await (await fetch(`${t.url}/metrics`)).text();
        return sample(text, 'vigil_health_transitions_total{checker="tcp",to="down"}') === 1;
      });
      const text = await (await fetch(`${t.url}/metrics`)).text();
      expect(sample(text, 'vigil_instances{kind="persistent",health="down"}')).toBe(1);
      expect((await promtool(text)).code).toBe(0);
    });
  });
});
