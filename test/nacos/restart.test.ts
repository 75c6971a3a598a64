/**
 * The seed incident: vigil loses an instance (here: restarted with a fresh store) while the npm
 * client keeps running. The client's own beats must bring the instance back, with nothing special
 * done by the client (it ignores code 20404, so vigil registers it again from the beat body).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir, startDaemon, type Daemon } from '../helpers/daemon.js';
import { beatStatus, list, nacos, namingClient, until, type NamingClient } from './helpers.js';

const daemons: Daemon[] = [];
let client: NamingClient | undefined;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

afterEach(async () => {
  await client?.close().catch(() => {});
  client = undefined;
  for (const d of daemons.splice(0)) {
    await d.stop();
    removeDir(d.dataDir);
  }
});

describe('restart with a fresh store', () => {
  it('gets the instance back through the running client\'s own beats', async () => {
    const port = await freePort();
    const config = { log: { level: 'warn' } };
    const first = await startDaemon({ port, config });
    daemons.push(first);
    client = await namingClient({ port });
    await client.registerInstance('comeback', { ip: '127.0.0.1', port: 18099, metadata: { build: '42' } });
    // Let the client beat this vigil at least once (its first beat comes ~10 s after it was built).
    await until(async () => (await beatStatus(first.url)).counters.beats >= 2, 20_000, 200);

    await first.stop();
    const second = await startDaemon({ port, config });
    daemons.push(second);
    const hosts = await until(async () => {
      const h = await list(second.url, 'DEFAULT_GROUP@@comeback');
      return h.length === 1 && h;
    }, 20_000, 200);
    expect(hosts[0]).toMatchObject({ ip: '127.0.0.1', port: 18099, healthy: true, ephemeral: true, metadata: { build: '42' } });
    // The first beat that reached the new vigil brought the instance back: one re-registration,
    // and no beat was answered 20404 (the client ignores that code and would never come back).
    const metrics = await nacos(second.url, 'GET', '/operator/metrics');
    expect(metrics.json.beat.reregistered).toBe(1);
    expect(metrics.json.beat.unknownBeats).toBe(0);
  }, 60_000);
});
