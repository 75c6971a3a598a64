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
    // The client polls once a second after subscribing, then every cacheMillis of the answer: ten
    // minutes here, so a change seen within the test can only have come by push.
    vigil = await startVigil({ nacos: { cacheMillis: 600_000 } });
    const c = await client(vigil);
    await c.registerInstance('pay', { ip: '127.0.0.1', port: 18081 });
    const polls0 = await listRequests(vigil.url);
    const seen: any[][] = [];
    c.subscribe('pay', (hosts) => seen.push(hosts));
    await until(() => seen.length > 0, 5000);
    // Its query at subscribe time and its first poll have both come: the next poll is ten minutes away.
    await until(async () => (await listRequests(vigil!.url)) >= polls0 + 2, 10_000, 50);
    const polls = await listRequests(vigil.url);
    const before = seen.length;
    const r = await nacos(vigil.url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@pay', ip: '127.0.0.1', port: 18082 });
    expect(r.text).toBe('ok');
    await until(() => seen.length > before && seen.at(-1)!.length === 2, 20_000, 20);
    expect(await listRequests(vigil.url)).toBe(polls); // no poll fetched it
    // The client acknowledged the push; vigil matched the ack to the packet.
    const metrics = await until(async () => {
      const m = await nacos(vigil!.url, 'GET', '/operator/metrics');
      return m.json.push.acked >= 1 && m.json;
    }, 10_000);
    expect(metrics.subscribeCount).toBeGreaterThanOrEqual(1);
  });

  it('with its beats stopped and short preserved.* timeouts: unhealthy after the heartbeat timeout, gone after the delete timeout', async () => {
    // vigil's clock follows the wall clock while the client beats, then stands still until the
    // test moves it, one sweep at a time: the timeouts are checked on vigil's clock, exactly.
    let frozen: number | undefined;
    vigil = await startVigil({ beat: { sweepIntervalMs: 200 } }, { now: () => frozen ?? Date.now() });
    const c = await client(vigil);
    const metadata = { 'preserved.heart.beat.interval': '1000', 'preserved.heart.beat.timeout': '2000', 'preserved.ip.delete.timeout': '4000' };
    await c.registerInstance('short', { ip: '127.0.0.1', port: 18083, metadata });
    // The client's first beat comes ~10 s after it was built; from then on every 1 s (our answer).
    await until(async () => (await beatStatus(vigil!.url)).counters.beats >= 3, 20_000);
    expect((await list(vigil.url, 'DEFAULT_GROUP@@short'))[0]).toMatchObject({ healthy: true, instanceHeartBeatInterval: 1000, instanceHeartBeatTimeOut: 2000, ipDeleteTimeout: 4000 });
    await c.close();
    frozen = Date.now();
    // The last beat, at a moment the test knows: from here the timeouts run.
    const beat = await nacos(vigil.url, 'PUT', '/instance/beat', { serviceName: 'DEFAULT_GROUP@@short', ip: '127.0.0.1', port: 18083 });
    expect(beat.json.code).toBe(10200);
    const lastBeat = frozen;
    const host = async () => (await list(vigil!.url, 'DEFAULT_GROUP@@short'))[0];
    const sweptAt = async (at: number) => {
      frozen = at;
      await until(async () => ((await beatStatus(vigil!.url)).lastSweep?.at ?? 0) >= at, 10_000, 20);
    };
    const states: Array<[number, string]> = [];
    for (let after = 200; after <= 5000; after += 200) {
      await sweptAt(lastBeat + after);
      const h = await host();
      states.push([after, h === undefined ? 'gone' : h.healthy ? 'healthy' : 'unhealthy']);
    }
    const firstAfter = (state: string) => states.find(([, s]) => s === state)?.[0];
    // Unhealthy at the sweep 2 s after the last beat, deleted at the one 4 s after it; never before.
    expect(states.filter(([after]) => after < 2000).every(([, s]) => s === 'healthy'), JSON.stringify(states)).toBe(true);
    expect(firstAfter('unhealthy'), JSON.stringify(states)).toBe(2000);
    expect(firstAfter('gone'), JSON.stringify(states)).toBe(4000);
  }, 60_000);
});

/** GET instance/list requests vigil has answered (its request counter on /metrics). */
async function listRequests(url: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('vigil_api_requests_total{') && line.includes('route="/nacos/v1/ns/instance/list"') && line.includes('method="GET"')) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}
