/**
 * The real `nacos` npm client (2.6.3) against an in-process vigil on loopback: registration,
 * subscription (HTTP and UDP push), beats and their expiry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { beatStatus, list, nacos, namingClient, startVigil, until, type NamingClient, type Vigil } from './helpers.js';

let vigil: Vigil | undefined;
const clients: NamingClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await vigil?.stop();
  vigil = undefined;
});

async function client(v: Vigil): Promise<NamingClient> {
  const c = await namingClient(v);
  clients.push(c);
  return c;
}

describe('nacos npm client: ephemeral instances', () => {
  it('registers an instance; a subscriber hears of it; instance/list shows it healthy', async () => {
    vigil = await startVigil();
    const c = await client(vigil);
    await c.registerInstance('orders', { ip: '127.0.0.1', port: 18080, metadata: { zone: 'a' } });
    const hosts = await new Promise<any[]>((resolve) => c.subscribe('orders', resolve));
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({ ip: '127.0.0.1', port: 18080, healthy: true, ephemeral: true, metadata: { zone: 'a' }, serviceName: 'DEFAULT_GROUP@@orders' });
    const listed = await list(vigil.url, 'DEFAULT_GROUP@@orders');
    expect(listed).toEqual([expect.objectContaining({ ip: '127.0.0.1', port: 18080, healthy: true, clusterName: 'DEFAULT', instanceId: '127.0.0.1#18080#DEFAULT#DEFAULT_GROUP@@orders' })]);
    expect(await c.getServerStatus()).toBe('UP');
  });

  it('pushes a change over UDP to a subscribed client long before its next poll', async () => {
    vigil = await startVigil();
    const c = await client(vigil);
    await c.registerInstance('pay', { ip: '127.0.0.1', port: 18081 });
    const seen: any[][] = [];
    c.subscribe('pay', (hosts) => seen.push(hosts));
    await until(() => seen.length > 0, 5000);
    // The client polls once after 1 s, then every cacheMillis (10 s): let that first poll pass.
    await new Promise((r) => setTimeout(r, 1500));
    const before = seen.length;
    const t0 = Date.now();
    const r = await nacos(vigil.url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@pay', ip: '127.0.0.1', port: 18082 });
    expect(r.text).toBe('ok');
    await until(() => seen.length > before && seen.at(-1)!.length === 2, 3000, 20);
    expect(Date.now() - t0).toBeLessThan(3000);
    // The client acknowledged the push; vigil matched the ack to the packet.
    const metrics = await until(async () => {
      const m = await nacos(vigil!.url, 'GET', '/operator/metrics');
      return m.json.push.acked >= 1 && m.json;
    }, 3000);
    expect(metrics.subscribeCount).toBeGreaterThanOrEqual(1);
  });

  it('with its beats stopped and short preserved.* timeouts: unhealthy after the heartbeat timeout, gone after the delete timeout', async () => {
    vigil = await startVigil({ beat: { sweepIntervalMs: 200 } });
    const c = await client(vigil);
    const metadata = { 'preserved.heart.beat.interval': '1000', 'preserved.heart.beat.timeout': '2000', 'preserved.ip.delete.timeout': '4000' };
    await c.registerInstance('short', { ip: '127.0.0.1', port: 18083, metadata });
    // The client's first beat comes ~10 s after it was built; from then on every 1 s (our answer).
    await until(async () => (await beatStatus(vigil!.url)).counters.beats >= 3, 20_000);
    expect((await list(vigil.url, 'DEFAULT_GROUP@@short'))[0]).toMatchObject({ healthy: true, instanceHeartBeatInterval: 1000, instanceHeartBeatTimeOut: 2000, ipDeleteTimeout: 4000 });
    await c.close();
    const stopped = Date.now();
    await until(async () => (await list(vigil!.url, 'DEFAULT_GROUP@@short'))[0]?.healthy === false, 5000, 50);
    const unhealthyAfter = Date.now() - stopped;
    await until(async () => (await list(vigil!.url, 'DEFAULT_GROUP@@short')).length === 0, 5000, 50);
    const goneAfter = Date.now() - stopped;
    expect(unhealthyAfter).toBeGreaterThanOrEqual(800);
    expect(unhealthyAfter).toBeLessThan(3500);
    expect(goneAfter).toBeGreaterThanOrEqual(2800);
    expect(goneAfter).toBeLessThan(5500);
  }, 40_000);
});
