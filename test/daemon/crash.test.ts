import { afterAll, describe, expect, it } from 'vitest';
import { api, removeDir, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';

const WRITERS = 8;
let dataDir: string;
let daemon: Daemon | undefined;

afterAll(async () => {
  await daemon?.stop();
  removeDir(dataDir);
});

describe('crash safety', () => {
  it('keeps every acknowledged registration, with its checker config, across kill -9', async () => {
    dataDir = tempDir();
    const config = { log: { level: 'warn' }, checks: { enabled: false } };
    daemon = await startDaemon({ dataDir, config });
    const url = daemon.url;
    const acked = new Map<string, number>();
    let next = 0;
    let stop = false;

    async function writer(): Promise<void> {
      while (!stop) {
        const n = next++;
        const port = 1 + (n % 60000);
        const body = {
          service: `svc-${n % 50}`,
          ip: `127.0.${(n >> 8) & 255}.${n & 255}`,
          port,
          checker: { type: 'http', intervalMs: 5000, options: { path: `/health/${n}` } },
        };
        try {
          const res = await api(url, 'POST', '/v1/instances', body);
          if (res.status === 201) acked.set(`${body.service}/${body.ip}:${port}`, n);
        } catch {
          return; // the daemon is gone: this request was never acknowledged
        }
      }
    }

    const writers = Array.from({ length: WRITERS }, writer);
    // A random moment, counted in acknowledged writes rather than milliseconds: the writers are
    // really writing when the kill comes, however fast or slow the machine is.
    const killAfter = 30 + Math.floor(Math.random() * 150);
    await waitFor(() => acked.size >= killAfter, 60_000, 5);
    await daemon.kill();
    stop = true;
    await Promise.all(writers);
    expect(acked.size).toBeGreaterThanOrEqual(killAfter);

    daemon = await startDaemon({ dataDir, config });
    // The listing is paged: follow the cursor to the last page.
    const present = new Map<string, { checker: { type: string; options: { path: string } } }>();
    for (let cursor: string | null = ''; cursor !== null; ) {
      const { body } = await api(daemon.url, 'GET', `/v1/instances?limit=5000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      for (const i of body.instances) present.set(`${i.service}/${i.ip}:${i.port}`, i);
      cursor = body.nextCursor;
    }
    const missing = [...acked.keys()].filter((k) => !present.has(k));
    expect(missing).toEqual([]);
    for (const [key, n] of acked) {
      const inst = present.get(key)!;
      expect(inst.checker.type).toBe('http');
      expect(inst.checker.options.path).toBe(`/health/${n}`);
    }
  });
});
