import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { api, CLI, removeDir, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { startHttpTarget, type TargetProcess } from '../helpers/target-process.js';

const FALL = 3;
const RISE = 2;
const config = {
  log: { level: 'warn' },
  checks: { intervalMs: 300, fastIntervalMs: 150, downIntervalMs: 300, timeoutMs: 200, jitter: 0, rise: RISE, fall: FALL },
};

interface Observed {
  healthy: boolean;
  failStreak: number;
  okStreak: number;
  reason: string;
  lastProbe: { status: string; reason: string; startedAt: number } | null;
  exempt: { by: string } | null;
}

let daemon: Daemon;
let dataDir: string;

async function instance(port: number, service = 'web'): Promise<Observed | undefined> {
  const { body } = await api(daemon.url, 'GET', `/v1/instances?service=${service}`);
  const i = body.instances.find((x: { port: number }) => x.port === port);
  return i && { ...i.health, lastProbe: i.lastProbe, exempt: i.exempt };
}

/** Polls the instance and keeps every distinct observation, so a test can see the path it took. */
async function watchUntil(port: number, pred: (o: Observed) => boolean, seen: Observed[], timeoutMs = 10_000, service = 'web'): Promise<Observed> {
  return waitFor(async () => {
    const o = await instance(port, service);
    if (!o) return undefined;
    seen.push(o);
    return pred(o) ? o : undefined;
  }, timeoutMs, 20);
}

beforeAll(async () => {
  dataDir = tempDir();
  daemon = await startDaemon({ dataDir, config });
});

afterAll(async () => {
  await daemon?.stop();
  removeDir(dataDir);
});

describe('a daemon probing real targets', () => {
  let target: TargetProcess;
  afterAll(async () => target?.kill());

  it('marks an HTTP target down after `fall` counted failures when it stops answering, and up after `rise` oks', async () => {
    target = await startHttpTarget();
    const reg = await api(daemon.url, 'POST', '/v1/instances', {
      service: 'web', ip: '127.0.0.1', port: target.port, checker: { type: 'http', options: { path: '/health' } },
    });
    expect(reg.status).toBe(201);
    await watchUntil(target.port, (o) => o.lastProbe?.status === 'ok', []);

    target.pause(); // the process hangs: connections open, no answer → timeouts, which are counted
    const seen: Observed[] = [];
    const down = await watchUntil(target.port, (o) => !o.healthy, seen);
    expect(down.reason).toBe('timeout');
    expect(seen.some((o) => o.healthy && o.failStreak >= 1)).toBe(true); // it did not flip on the first failure
    expect(down.failStreak).toBeGreaterThanOrEqual(FALL);
    expect(down.failStreak).toBeLessThanOrEqual(FALL + 1);

    target.resume();
    const upSeen: Observed[] = [];
    const up = await watchUntil(target.port, (o) => o.healthy, upSeen);
    expect(upSeen.some((o) => !o.healthy && o.okStreak >= 1)).toBe(true);
    expect(up.okStreak).toBeGreaterThanOrEqual(RISE);
    expect(up.okStreak).toBeLessThanOrEqual(RISE + 1);
  });

  it('marks an HTTP target down at once when it is killed (refused), and up again after `rise` oks when restarted', async () => {
    const port = target.port;
    await target.kill();
    const down = await watchUntil(port, (o) => !o.healthy, []);
    expect(down.reason).toBe('refused');
    expect(down.failStreak).toBeLessThanOrEqual(2); // fail-now: no need to wait for `fall`

    target = await startHttpTarget(port);
    const up = await watchUntil(port, (o) => o.healthy, []);
    expect(up.okStreak).toBeGreaterThanOrEqual(RISE);
  });

  it('marks a TCP instance down at once when the connection is refused', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    server.close();
    await once(server, 'close');
    await api(daemon.url, 'POST', '/v1/instances', { service: 'db-tcp', ip: '127.0.0.1', port, checker: { type: 'tcp' } });
    const seen: Observed[] = [];
    const down = await watchUntil(port, (o) => !o.healthy, seen, 10_000, 'db-tcp');
    expect(down.reason).toBe('refused');
    expect(down.failStreak).toBe(1);
  });

  it('never probes a whitelisted instance and says why it is exempt', async () => {
    let connections = 0;
    const server: Server = createServer((s) => {
      connections++;
      s.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    try {
      const wl = await api(daemon.url, 'POST', '/v1/whitelist', { ip: '127.0.0.1', port, reason: 'deploy in progress' });
      expect(wl.status).toBe(201);
      await api(daemon.url, 'POST', '/v1/instances', { service: 'maint', ip: '127.0.0.1', port, checker: { type: 'tcp' } });
      // A sibling that is not whitelisted gets probed: once it has been, several intervals have passed.
      await api(daemon.url, 'POST', '/v1/instances', { service: 'maint', ip: '127.0.0.1', port: port === 65535 ? 1 : port + 1, checker: { type: 'tcp' } });
      // Several intervals have passed once the sibling has been probed three times (events, not a sleep).
      const probeTimes = new Set<number>();
      await waitFor(async () => {
        const at = (await instance(port === 65535 ? 1 : port + 1, 'maint'))?.lastProbe?.startedAt;
        if (at !== undefined) probeTimes.add(at);
        return probeTimes.size >= 3;
      }, 30_000);
      const o = await instance(port, 'maint');
      expect(connections).toBe(0);
      expect(o?.lastProbe).toBeNull();
      expect(o?.exempt).toMatchObject({ by: 'whitelist', reason: 'deploy in progress' });
      expect(o?.healthy).toBe(true);
    } finally {
      server.close();
    }
  });

  it('vigil status prints every instance with its health as a table', async () => {
    const out = execFileSync(process.execPath, [CLI, 'status', '--url', daemon.url], { encoding: 'utf8' });
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^SERVICE\s+CLUSTER\s+INSTANCE\s+KIND\s+HEALTH/);
    expect(lines).toHaveLength(5);
    expect(out).toMatch(/DEFAULT_GROUP@@db-tcp\s+DEFAULT\s+127\.0\.0\.1:\d+\s+persistent\s+DOWN/);
    expect(out).toMatch(/DEFAULT_GROUP@@maint .*whitelist: deploy in progress/);
  });

  it('deletes nothing: every instance is still registered after failures and after a restart', async () => {
    const before = (await api(daemon.url, 'GET', '/v1/instances')).body.instances.length;
    expect(before).toBe(4);
    expect(await daemon.stop()).toBe(0); // SIGTERM: probes aborted, store closed, clean exit
    daemon = await startDaemon({ dataDir, config });
    const after = await api(daemon.url, 'GET', '/v1/instances');
    expect(after.body.instances.length).toBe(before);
    const down = after.body.instances.find((i: { service: string }) => i.service === 'db-tcp');
    expect(down.health.healthy).toBe(false); // last known health survives the restart
    expect(down.checker.type).toBe('tcp');
    const maint = after.body.instances.find((i: { service: string; lastProbe: unknown }) => i.service === 'maint' && !i.lastProbe);
    expect(maint.exempt).toMatchObject({ by: 'whitelist', reason: 'deploy in progress' }); // so does the whitelist
  });
});
