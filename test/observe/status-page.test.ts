import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, REPO, waitFor } from '../helpers/daemon.js';
import { startHttpServer, startTcpServer, type TestServer } from '../helpers/servers.js';
import { describeMariaDb, startMariaDb, TEST_USER, type MariaDb } from '../helpers/mariadb.js';
import { describeWithBinary } from '../helpers/tools.js';
import { startApp, type TestApp } from './app.js';

const TOKEN = 'status-page-test-token';
/** Debian's chromium, locked down: nothing of its own goes to the network. */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describeWithBinary('chromium', 'chromium', 'the status page in a real browser', () => describeMariaDb('with a MariaDB primary among the targets', () => {
  let t: TestApp;
  /** A second daemon whose reads need a credential; stopped only after the browser closed. */
  let closed: TestApp;
  let db: MariaDb;
  let web: TestServer;
  let spare: TestServer;
  let cache: TestServer;
  let status = 200;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  const requests: string[] = [];
  let navigations = 0;
  const rowOf = (port: number) => page.locator(`tr[data-key$=":${port}"]`);

  beforeAll(async () => {
    [db, web, spare, cache] = await Promise.all([
      startMariaDb(),
      startHttpServer((_q, s) => {
        s.statusCode = status;
        s.end();
      }),
      startHttpServer((_q, s) => s.end('ok')),
      startTcpServer((s) => s.end()),
    ]);
    // Generous probe timeouts: four targets, a browser and a MariaDB share two busy cores.
    t = await startApp({ api: { token: TOKEN }, checks: { intervalMs: 500, fastIntervalMs: 200, downIntervalMs: 500, timeoutMs: 400 } });
    const reg = (service: string, port: number, checker: object) => api(t.url, 'POST', '/v1/instances', { service, ip: '127.0.0.1', port, checker }, { authorization: `Bearer ${TOKEN}` });
    await reg('web', web.port, { type: 'http', options: { path: '/health' } });
    await reg('web', spare.port, { type: 'http', options: { path: '/health' } });
    await reg('cache', cache.port, { type: 'tcp' });
    await reg('orders-db', db.port, { type: 'mysql', options: { ...TEST_USER } });
    await waitFor(async () => (await api(t.url, 'GET', '/v1/history')).body.instances.every((i: { results: unknown[] }) => i.results.length >= 5));
    closed = await startApp({ api: { token: TOKEN, anonymousReads: false, users: [{ username: 'ops', password: 'ops-password-123', role: 'write' }] }, checks: { enabled: false } });
    await api(closed.url, 'POST', '/v1/instances', { service: 'private', ip: '127.0.0.1', port: 7100 }, { authorization: `Bearer ${TOKEN}` });
    profile = mkdtempSync(join(tmpdir(), 'vigil-chromium-'));
    browser = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', args: ARGS, headless: true, viewport: { width: 1280, height: 720 }, colorScheme: 'light' });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('request', (r) => requests.push(r.url()));
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await t?.stop();
    await closed?.stop();
    await Promise.all([web?.close(), spare?.close(), cache?.close(), db?.stop()]);
  });

  it('shows every instance with its health and heartbeat bar', async () => {
    await page.goto(t.url);
    await expect.poll(() => page.locator('tr[data-key]').count()).toBe(4);
    expect(await rowOf(web.port).getByTestId('state').textContent()).toBe('UP');
    expect(await rowOf(web.port).locator('.bar i.ok').count()).toBeGreaterThanOrEqual(5);
    expect(await page.locator('section.service h2 img').first().getAttribute('src')).toMatch(/^\/badge\//);
    // The MySQL checker's role fact: the instance is marked primary, and so is its service.
    expect(await rowOf(db.port).locator('.role').textContent()).toBe('primary');
    expect(await page.locator('section[data-service$="@@orders-db"] h2 .meta').textContent()).toContain(`primary 127.0.0.1:${db.port}`);
  });

  it('follows a real target going down without a reload', async () => {
    status = 503;
    await expect.poll(() => rowOf(web.port).getByTestId('state').textContent(), { timeout: 10_000 }).toBe('DOWN');
    await expect.poll(() => rowOf(web.port).locator('.bar i.fail').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await rowOf(web.port).getAttribute('data-health')).toBe('down');
    expect(await page.locator('#live').textContent()).toBe('live');
    expect(navigations).toBe(1);
  });

  it('filters by search and health, and sorts down first', async () => {
    expect(await page.locator('tr[data-key]').first().getAttribute('data-key')).toMatch(new RegExp(`:${web.port}$`));
    await page.selectOption('#show', 'down');
    expect(await page.locator('tr[data-key]').count()).toBe(1);
    await page.selectOption('#show', 'all');
    await page.fill('#search', 'cache');
    expect(await page.locator('tr[data-key]').count()).toBe(1);
    await page.selectOption('#sort', 'name');
    await page.fill('#search', '');
    expect(await page.locator('tr[data-key]').first().getAttribute('data-key')).toMatch(/@@cache\//);
    await page.selectOption('#sort', 'health');
    await page.fill('#search', '');
  });

  it('toggles maintenance only with a write token, through the whitelist API', async () => {
    const button = rowOf(spare.port).getByTestId('maintenance');
    expect(await button.isDisabled()).toBe(true);
    await page.fill('#token', TOKEN);
    await rowOf(spare.port).getByTestId('maintenance').click();
    await expect.poll(() => rowOf(spare.port).locator('td.exempt').textContent()).toContain('maintenance');
    const entries = (await api(t.url, 'GET', '/v1/whitelist')).body.entries;
    expect(entries).toMatchObject([{ ip: '127.0.0.1', port: spare.port, service: 'DEFAULT_GROUP@@web' }]);
  });

  it('saves light, dark and phone screenshots for the docs', async () => {
    // Into docs/images only when asked (VIGIL_UPDATE_SCREENSHOTS=1), so a test run leaves the tree clean.
    const dir = process.env.VIGIL_UPDATE_SCREENSHOTS === '1' ? join(REPO, 'docs/images') : mkdtempSync(join(tmpdir(), 'vigil-shots-'));
    await page.screenshot({ path: join(dir, 'status-page-light.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    const bg = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(bg).toBe('rgb(17, 20, 24)');
    await page.screenshot({ path: join(dir, 'status-page-dark.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(dir, 'status-page-phone.png'), fullPage: true });
    for (const name of ['status-page-light.png', 'status-page-dark.png', 'status-page-phone.png']) expect(statSync(join(dir, name)).size).toBeGreaterThan(10_000);
  });

  it('asks for a token when reads need one, then shows the data and goes live', async () => {
    const tab = await browser.newPage();
    tab.on('request', (r) => requests.push(r.url()));
    await tab.goto(closed.url);
    await expect.poll(() => tab.locator('#banners').textContent()).toContain('VIGIL_ERR_UNAUTHORIZED');
    expect(await tab.locator('tr[data-key]').count()).toBe(0);
    await tab.fill('#token', TOKEN);
    await expect.poll(() => tab.locator('tr[data-key]').count()).toBe(1);
    await expect.poll(() => tab.locator('#live').textContent(), { timeout: 10_000 }).toBe('live');
    await tab.close();
  }, 60_000);

  it('signs a Nacos-style user in with a password and toggles maintenance with its accessToken', async () => {
    const tab = await browser.newPage();
    tab.on('request', (r) => requests.push(r.url()));
    await tab.goto(closed.url);
    await tab.fill('#user', 'ops');
    await tab.fill('#token', 'wrong-password');
    await tab.press('#token', 'Enter');
    await expect.poll(() => tab.locator('#banners').textContent()).toContain('sign-in failed');
    await tab.fill('#token', 'ops-password-123');
    await tab.press('#token', 'Enter');
    await expect.poll(() => tab.locator('tr[data-key]').count()).toBe(1);
    await tab.locator('tr[data-key$=":7100"]').getByTestId('maintenance').click();
    await expect.poll(() => tab.locator('tr[data-key$=":7100"] td.exempt').textContent()).toContain('maintenance');
    const entries = (await api(closed.url, 'GET', '/v1/whitelist', undefined, { authorization: `Bearer ${TOKEN}` })).body.entries;
    expect(entries).toMatchObject([{ port: 7100, reason: 'maintenance (status page)' }]);
    await tab.close();
  }, 60_000);

  it('made no request to any host but the daemon on loopback', () => {
    expect(requests.length).toBeGreaterThan(3);
    const hosts = new Set(requests.map((u) => new URL(u).hostname));
    expect([...hosts]).toEqual(['127.0.0.1']);
  });
}));
