/**
 * A persistent instance registered through the npm client (`ephemeral: false`) is probed by the
 * scheduler with the cluster's checker (default TCP on the instance port) and never expires.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../helpers/servers.js';
import { beatStatus, list, nacos, namingClient, startVigil, until, type NamingClient, type Vigil } from './helpers.js';

let vigil: Vigil | undefined;
let client: NamingClient | undefined;
let target: net.Server | undefined;
const sockets = new Set<net.Socket>();
let accepted = 0;

function tcpTarget(): net.Server {
  const server = net.createServer((s) => {
    sockets.add(s);
    accepted++;
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  return server;
}

async function closeTarget(): Promise<void> {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => target!.close(() => r()));
}

afterEach(async () => {
  await client?.close().catch(() => {});
  client = undefined;
  if (target?.listening) await closeTarget();
  await vigil?.stop();
  vigil = undefined;
});

const FAST_CHECKS = { intervalMs: 300, timeoutMs: 200, fastIntervalMs: 200, downIntervalMs: 300, jitter: 0, rise: 2, fall: 2 };
// Beat timeouts far shorter than the test, to show that they do not apply to persistent instances.
const SHORT_BEATS = { clientBeatIntervalMs: 200, heartbeatTimeoutMs: 500, deleteTimeoutMs: 1000, sweepIntervalMs: 100 };

describe('nacos npm client: persistent instances', () => {
  it('probes a persistent instance on its port: closed → unhealthy, reopened → healthy, registered throughout', async () => {
    target = tcpTarget();
    const port = await listen(target);
    vigil = await startVigil({ checks: FAST_CHECKS, beat: SHORT_BEATS });
    client = await namingClient(vigil);
    await client.registerInstance('db', { ip: '127.0.0.1', port, ephemeral: false });

    let missing = 0;
    let watching = true;
    // A sampler, paced so it stays far below the read rate limit; nothing waits on it.
    const watch = (async () => {
      while (watching) {
        if ((await list(vigil!.url, 'DEFAULT_GROUP@@db')).length !== 1) missing++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const host = async () => (await list(vigil!.url, 'DEFAULT_GROUP@@db'))[0];
    expect(await host()).toMatchObject({ ephemeral: false, healthy: true, port });
    await until(() => accepted > 0, 3000, 20);

    await closeTarget();
    await until(async () => (await host())?.healthy === false, 5000, 50);

    target = tcpTarget();
    await listen(target, port);
    await until(async () => (await host())?.healthy === true, 5000, 50);

    // Past the beat delete timeout, by the beat sweeper's own clock: a persistent instance does not
    // beat and does not expire.
    const reopened = Date.now();
    await until(async () => ((await beatStatus(vigil!.url)).lastSweep?.at ?? 0) > reopened + SHORT_BEATS.deleteTimeoutMs + SHORT_BEATS.sweepIntervalMs, 20_000, 50);
    watching = false;
    await watch;
    expect(missing).toBe(0);

    // A deregistration for an ephemeral instance leaves it; only ephemeral=false removes it.
    await nacos(vigil.url, 'DELETE', '/instance', { serviceName: 'DEFAULT_GROUP@@db', ip: '127.0.0.1', port, ephemeral: true });
    expect(await list(vigil.url, 'DEFAULT_GROUP@@db')).toHaveLength(1);
    await client.deregisterInstance('db', { ip: '127.0.0.1', port, ephemeral: false });
    expect(await list(vigil.url, 'DEFAULT_GROUP@@db')).toHaveLength(0);
  }, 30_000);

  it('probes with the cluster checker set through PUT cluster (checkPort instead of the instance port)', async () => {
    target = tcpTarget();
    const checkPort = await listen(target);
    vigil = await startVigil({ checks: FAST_CHECKS });
    client = await namingClient(vigil);
    // The instance's own port has nothing listening: only the checkPort keeps it healthy.
    await client.registerInstance('api', { ip: '127.0.0.1', port: 1, ephemeral: false });
    const put = await nacos(vigil.url, 'PUT', '/cluster', {
      serviceName: 'DEFAULT_GROUP@@api',
      clusterName: 'DEFAULT',
      healthChecker: JSON.stringify({ type: 'TCP' }),
      checkPort,
      useInstancePort4Check: false,
    });
    expect(put.text).toBe('ok');
    const host = async () => (await list(vigil!.url, 'DEFAULT_GROUP@@api'))[0];
    accepted = 0;
    await until(() => accepted > 0, 5000, 20);
    await until(async () => (await host())?.healthy === true, 5000, 50);
    await closeTarget();
    await until(async () => (await host())?.healthy === false, 5000, 50);
  }, 30_000);
});
