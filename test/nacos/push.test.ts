/**
 * UDP push with a raw loopback UDP subscriber: where packets go, what they hold, acks, resends,
 * gzip and subscription expiry.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { nextPushId } from '../../src/nacos/push.js';
import { nacos, startVigil, until, type Vigil } from './helpers.js';

let vigil: Vigil | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await vigil?.stop();
  vigil = undefined;
});

interface Received {
  readonly packet: Buffer;
  readonly json: { type: string; data: string; lastRefTime: number };
  readonly from: { address: string; port: number };
}

async function udp(address: string, port = 0): Promise<{ socket: Socket; port: number; got: Received[] }> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  const got: Received[] = [];
  socket.on('message', (packet, from) => {
    const text = (packet[0] === 0x1f && packet[1] === 0x8b ? gunzipSync(packet) : packet).toString();
    got.push({ packet, json: JSON.parse(text), from });
  });
  socket.bind(port, address);
  await once(socket, 'listening');
  return { socket, port: socket.address().port, got };
}

/** instance/list sent from a chosen loopback address, as a subscriber on another host would. */
function listFrom(localAddress: string, url: string, query: Record<string, string | number>): Promise<any> {
  const u = new URL('/nacos/v1/ns/instance/list', url);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  return new Promise((resolve, reject) => {
    http
      .get(u, { localAddress, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) resolve(JSON.parse(body));
          else reject(new Error(`instance/list answered ${res.statusCode}: ${body}`));
        });
      })
      .on('error', reject);
  });
}

const register = (url: string, port: number, metadata = '{}') =>
  nacos(url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@push', ip: '127.0.0.1', port, metadata });

describe('udp push', () => {
  it('pushes to the address the list request came from, never to the clientIP parameter', async () => {
    vigil = await startVigil();
    const real = await udp('127.0.0.3');
    const decoy = await udp('127.0.0.2', real.port);
    await listFrom('127.0.0.3', vigil.url, { serviceName: 'DEFAULT_GROUP@@push', clusters: 'DEFAULT', udpPort: real.port, clientIP: '127.0.0.2' });
    await register(vigil.url, 7001);
    await until(() => real.got.length > 0, 3000, 10);
    // Done pushing (the real subscriber never acks, so the push ends as failed after its retries):
    // whatever vigil was going to send, it has sent.
    await until(async () => (await nacos(vigil!.url, 'GET', '/operator/metrics')).json.push.pending === 0, 10_000, 50);
    expect(decoy.got).toHaveLength(0);
    const { json } = real.got[0]!;
    expect(json.type).toBe('dom');
    expect(typeof json.lastRefTime).toBe('number');
    const data = JSON.parse(json.data);
    // name and clusters echo the subscriber's own request, or the npm client would drop the push.
    expect(data).toMatchObject({ name: 'DEFAULT_GROUP@@push', clusters: 'DEFAULT', hosts: [{ ip: '127.0.0.1', port: 7001, healthy: true }] });
  });

  it('stops resending once acknowledged; resends an unacknowledged packet `retries` times, then gives up', async () => {
    vigil = await startVigil({ nacos: { push: { ackTimeoutMs: 200, retries: 2 } } });
    const acking = await udp('127.0.0.1');
    const silent = await udp('127.0.0.1');
    acking.socket.on('message', (packet, from) => {
      const { lastRefTime } = JSON.parse(packet.toString());
      acking.socket.send(JSON.stringify({ type: 'push-ack', lastRefTime, data: '' }), from.port, from.address);
    });
    for (const sub of [acking, silent]) await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@push', udpPort: sub.port });
    await register(vigil.url, 7002);
    await until(() => silent.got.length >= 3, 3000, 10);
    // vigil gave up on the silent subscriber: no further resend can come.
    await until(async () => (await nacos(vigil!.url, 'GET', '/operator/metrics')).json.push.failed === 1, 10_000, 20);
    expect(acking.got).toHaveLength(1);
    expect(silent.got).toHaveLength(3);
    expect(new Set(silent.got.map((g) => g.json.lastRefTime)).size).toBe(1);
    const push = (await nacos(vigil.url, 'GET', '/operator/metrics')).json.push;
    expect(push).toMatchObject({ acked: 1, failed: 1, pending: 0 });
  });

  it('ignores an ack from anyone but the subscriber the packet went to', async () => {
    vigil = await startVigil({ nacos: { push: { ackTimeoutMs: 300, retries: 1 } } });
    const sub = await udp('127.0.0.1');
    const forger = await udp('127.0.0.1');
    sub.socket.on('message', (packet, from) => {
      const { lastRefTime } = JSON.parse(packet.toString());
      forger.socket.send(JSON.stringify({ type: 'push-ack', lastRefTime, data: '' }), from.port, from.address);
    });
    await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@push', udpPort: sub.port });
    await register(vigil.url, 7003);
    await until(() => sub.got.length >= 2, 3000, 10);
    expect((await nacos(vigil.url, 'GET', '/operator/metrics')).json.push.acked).toBe(0);
  });

  it('gzips a packet of 1 KiB or more', async () => {
    vigil = await startVigil();
    const sub = await udp('127.0.0.1');
    await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@push', udpPort: sub.port });
    await register(vigil.url, 7004, JSON.stringify({ note: 'x'.repeat(1500) }));
    await until(() => sub.got.length > 0, 3000, 10);
    expect([...sub.got[0]!.packet.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    expect(JSON.parse(sub.got[0]!.json.data).hosts[0].metadata.note).toHaveLength(1500);
  });

  it('coalesces a burst of changes to one service into one packet', async () => {
    vigil = await startVigil({ nacos: { push: { delayMs: 300 } } });
    const sub = await udp('127.0.0.1');
    await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@push', udpPort: sub.port });
    await Promise.all([7010, 7011, 7012, 7013].map((p) => register(vigil!.url, p)));
    await until(() => sub.got.length > 0, 3000, 10);
    // A later change is pushed after the burst's packet: anything the burst still sent came before it.
    await register(vigil.url, 7014);
    await until(() => sub.got.some((g) => JSON.parse(g.json.data).hosts.length === 5), 5000, 10);
    expect(sub.got.map((g) => JSON.parse(g.json.data).hosts.length)).toEqual([4, 5]);
  });

  it('stops pushing to a subscriber that stopped polling', async () => {
    // vigil's clock is the test's: the TTL (300 ms) passes when the test moves it, not by waiting.
    let clock = Date.parse('2026-12-01T00:00:00Z');
    vigil = await startVigil({ nacos: { push: { subscriberTtlMs: 300 } } }, { now: () => clock });
    const sub = await udp('127.0.0.1');
    await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@push', udpPort: sub.port });
    clock += 500;
    // A subscriber that polls now is the marker: once it has the push, the stale one would have too.
    const fresh = await udp('127.0.0.1');
    await nacos(vigil.url, 'GET', '/instance/list', { serviceName: 'DEFAULT_GROUP@@push', udpPort: fresh.port });
    await register(vigil.url, 7020);
    await until(() => fresh.got.length > 0, 5000, 10);
    expect(sub.got).toHaveLength(0);
  });
});

describe('udp push fairness', () => {
  it('one client with thousands of subscriptions cannot take the slots of another: the second still gets its push', async () => {
    // 2,000 subscriptions from one address as fast as it can: the per-address read limit is not what this test is about.
    vigil = await startVigil({ nacos: { push: { maxSubscribers: 1500, maxSubscribersPerClient: 100 } }, server: { readsPerSecond: 0 } });
    const noisy = await udp('127.0.0.2');
    for (let i = 0; i < 2000; i++) {
      // Past its cap the noisy client is still served, just not pushed to.
      const served = await listFrom('127.0.0.2', vigil.url, { serviceName: `DEFAULT_GROUP@@noisy-${i}`, udpPort: noisy.port });
      expect(served).toMatchObject({ name: `DEFAULT_GROUP@@noisy-${i}`, hosts: [] });
    }
    const quiet = await udp('127.0.0.3');
    await listFrom('127.0.0.3', vigil.url, { serviceName: 'DEFAULT_GROUP@@push', udpPort: quiet.port });
    expect((await nacos(vigil.url, 'GET', '/operator/metrics')).json.subscribeCount).toBe(101);
    await register(vigil.url, 7030);
    await until(() => quiet.got.length > 0, 5000, 10);
    expect(JSON.parse(quiet.got[0]!.json.data).hosts).toEqual([expect.objectContaining({ port: 7030 })]);
  });

  it('gives every packet a unique, increasing id even when thousands go out in one millisecond', () => {
    const ids: number[] = [];
    let last = 0;
    for (let i = 0; i < 5000; i++) ids.push((last = nextPushId(last, 1_700_000_000_000)));
    expect(new Set(ids).size).toBe(5000);
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    expect(nextPushId(last, 1_700_000_000_001)).toBeGreaterThan(last);
    expect(Number.isSafeInteger(nextPushId(0, Date.parse('2100-01-01')))).toBe(true);
  });
});
