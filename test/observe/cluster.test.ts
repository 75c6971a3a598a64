/**
 * Observability of a cluster: real vigil processes on one private MariaDB. Members coming up and
 * going down reach the event stream, a webhook receiver and the status page (in Debian's
 * chromium); the peer metrics pass promtool and add up across nodes. Every wait is for an event
 * with a generous deadline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verify } from '../../src/observe/webhook-signature.js';
import { api, REPO, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { promtool, sample } from '../helpers/promtool.js';
import { startHttpServer, startTcpServer, type TestServer } from '../helpers/servers.js';
import { connectSse, type SseClient } from '../helpers/sse.js';
import { describeWithBinary } from '../helpers/tools.js';

const SECRET = 'observe-cluster-test-secret';
const HOOK_SECRET = 'observe-cluster-hook-secret';

describeWithBinary('promtool', 'prometheus', 'observing a cluster', () =>
  describeWithBinary('chromium', 'chromium', 'with a browser', () =>
    describeMariaDb('two and three vigil processes on one MariaDB', () => {
      let db: MariaDb;
      let url: string;
      let hooks: TestServer;
      const delivered: Array<{ body: any; ok: boolean }> = [];
      const targets: TestServer[] = [];
      const nodes = new Map<string, Daemon>();
      let sse: SseClient;
      let profile: string;
      let browser: BrowserContext;
      let page: Page;

      const config = (nodeId: string, extra: object = {}) => ({
        cluster: { nodeId, memberTimeoutMs: 3000, leaseRenewMs: 300, leaseMarginMs: 700, pollMs: 300, pollWindowMs: 3000, reconcileMs: 5000 },
        checks: { intervalMs: 500, timeoutMs: 400, fastIntervalMs: 500, downIntervalMs: 500, jitter: 0, rise: 1, fall: 1 },
        log: { level: 'warn' },
        ...extra,
      });
      const start = async (nodeId: string, extra?: object) => {
        const d = await startDaemon({ args: ['--store', url, '--node-id', nodeId], env: { VIGIL_CLUSTER_SECRET: SECRET }, config: config(nodeId, extra) });
        nodes.set(nodeId, d);
        return d;
      };
      const memberEvent = (what: 'up' | 'down', nodeId: string) => sse.next((e) => e.event === `member-${what}` && e.data.data.nodeId === nodeId, 30_000);
      const scrape = async (d: Daemon) => (await fetch(`${d.url}/metrics`)).text();
      const member = (nodeId: string) => page.locator(`#members li[data-node="${nodeId}"]`);

      beforeAll(async () => {
        db = await startMariaDb();
        url = await freshDatabase(db, 'observe');
        hooks = await startHttpServer(async (req, res) => {
          let raw = '';
          for await (const chunk of req) raw += chunk;
          delivered.push({ body: JSON.parse(raw), ok: verify(HOOK_SECRET, String(req.headers['x-vigil-signature']), raw, Date.now()) });
          res.end();
        });
        for (let i = 0; i < 2; i++) targets.push(await startTcpServer((s) => s.end()));
        const webhooks = [{ name: 'ops', url: `http://127.0.0.1:${hooks.port}/hook`, secret: HOOK_SECRET, events: ['member-up', 'member-down'] }];
        const n1 = await start('n1', { observe: { webhooks } });
        sse = await connectSse(`${n1.url}/v1/events?types=member-up,member-down`);
        expect(sse.status).toBe(200);
        profile = mkdtempSync(join(tmpdir(), 'vigil-chromium-'));
        browser = await chromium.launchPersistentContext(profile, {
          executablePath: '/usr/bin/chromium',
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
          headless: true,
        });
        page = browser.pages()[0] ?? (await browser.newPage());
      }, 120_000);

      afterAll(async () => {
        sse?.close();
        await browser?.close();
        if (profile) rmSync(profile, { recursive: true, force: true });
        for (const d of nodes.values()) await d.kill();
        await Promise.all([hooks?.close(), ...targets.map((t) => t.close()), db?.stop()]);
      });

      it('tells the event stream and a webhook when a member joins', async () => {
        const n2 = await start('n2');
        const up = await memberEvent('up', 'n2');
        expect(up.data.type).toBe('member-up');
        expect(up.data.data).toMatchObject({ nodeId: 'n2', url: n2.url, reason: 'joined', observedBy: 'n1' });
        expect(up.data.data.at).toBeGreaterThan(0);
        const hook = await waitFor(() => delivered.find((d) => d.body.type === 'member-up' && d.body.data.nodeId === 'n2'), 30_000);
        expect(hook.ok).toBe(true);
        expect(hook.body.id).toBe(up.id);
      }, 60_000);

      it('exposes peer metrics that pass promtool and add up across the nodes', async () => {
        const [n1, n2] = [nodes.get('n1')!, nodes.get('n2')!];
        for (const t of targets) expect((await api(n1.url, 'POST', '/v1/instances', { service: 'cache', ip: '127.0.0.1', port: t.port, ephemeral: false, checker: { type: 'tcp' } })).status).toBe(201);
        const healthOn = async (d: Daemon) => ((await api(d.url, 'GET', '/v1/instances?service=cache')).body.instances as any[]).map((i) => [i.port, i.health.healthy]);
        await waitFor(async () => (await healthOn(n2)).length === 2, 30_000, 200);
        // One target goes down: its owner decides and broadcasts, the other node applies (or repairs).
        await targets[0]!.close();
        for (const d of [n1, n2]) await waitFor(async () => (await healthOn(d)).some(([port, up]) => port === targets[0]!.port && up === false), 30_000, 200);
        const texts = await waitFor(async () => {
          const t = await Promise.all([scrape(n1), scrape(n2)]);
          // Both nodes have completed a round with both members and split the shards between them.
          const settled = t.every((x) => sample(x, 'vigil_cluster_members{state="alive"}') === 2) && t.reduce((n, x) => n + sample(x, 'vigil_cluster_shards_owned')!, 0) === 256;
          return settled && t;
        }, 30_000, 200);
        for (const text of texts) {
          const check = await promtool(text);
          expect(check.out).toBe('');
          expect(check.code).toBe(0);
          expect(sample(text, 'vigil_cluster_members{state="dead"}')).toBe(0);
          expect(sample(text, 'vigil_cluster_store_poll_lag_seconds')).toBeGreaterThanOrEqual(0);
        }
        const sum = (name: string) => texts.reduce((n, x) => n + sample(x, name)!, 0);
        expect(sum('vigil_cluster_broadcasts_sent_total') + sum('vigil_cluster_broadcasts_failed_total')).toBeGreaterThan(0);
        expect(sum('vigil_cluster_broadcasts_applied_total') + sum('vigil_cluster_broadcasts_repaired_total')).toBeGreaterThan(0);
      }, 90_000);

      it('shows the members on the status page and follows a member leaving and one killed without a reload', async () => {
        const n1 = nodes.get('n1')!;
        let navigations = 0;
        page.on('framenavigated', (f) => {
          if (f === page.mainFrame()) navigations++;
        });
        await page.goto(n1.url);
        await expect.poll(() => page.getByTestId('members-summary').textContent(), { timeout: 20_000 }).toBe('2/2 alive');
        expect(await member('n1').getAttribute('data-state')).toBe('alive');
        expect(await member('n2').getAttribute('data-state')).toBe('alive');
        const loads = navigations;

        // A clean stop deletes the member's row: down with reason `left`, and gone from the panel.
        await start('n3');
        await memberEvent('up', 'n3');
        await expect.poll(() => member('n3').getAttribute('data-state'), { timeout: 20_000 }).toBe('alive');
        expect(await nodes.get('n3')!.stop()).toBe(0);
        const left = await memberEvent('down', 'n3');
        expect(left.data.data.reason).toBe('left');
        await expect.poll(() => member('n3').count(), { timeout: 20_000 }).toBe(0);

        // SIGKILL: the row stays until its heartbeat is too old by the database's clock.
        await nodes.get('n2')!.kill();
        const down = await memberEvent('down', 'n2');
        expect(down.data.data).toMatchObject({ nodeId: 'n2', reason: 'heartbeat-timeout', observedBy: 'n1' });
        await expect.poll(() => member('n2').getAttribute('data-state'), { timeout: 20_000 }).toBe('dead');
        expect(await page.getByTestId('members-summary').textContent()).toBe('1/2 alive');
        expect(navigations).toBe(loads);
        const hooked = await waitFor(() => delivered.find((d) => d.body.type === 'member-down' && d.body.data.nodeId === 'n2'), 30_000);
        expect(hooked.ok).toBe(true);
        // For docs/observability.md, written there only when asked (a test run leaves the tree clean).
        const dir = process.env.VIGIL_UPDATE_SCREENSHOTS === '1' ? join(REPO, 'docs/images') : mkdtempSync(join(tmpdir(), 'vigil-shots-'));
        await page.screenshot({ path: join(dir, 'status-page-members.png'), fullPage: true });
        if (dir.startsWith(tmpdir())) rmSync(dir, { recursive: true, force: true });
      }, 120_000);
    }),
  ),
);
