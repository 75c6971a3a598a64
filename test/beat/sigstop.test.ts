/**
 * Self-preservation against vigil's own stall, with real processes: 200 ephemeral instances beat a
 * built vigil over loopback; vigil is SIGSTOPped for longer than the delete timeout and resumed.
 * None of the instances whose beats resumed may be deleted; those that stopped beating still go.
 */
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir, startDaemon, type Daemon } from '../helpers/daemon.js';
import { beatStatus, list, nacos, until } from '../nacos/helpers.js';

const N = 200;
const QUITTERS = 10;
const BASE_PORT = 20_000;
const CONFIG = {
  log: { level: 'warn' },
  checks: { enabled: false },
  beat: { clientBeatIntervalMs: 1000, heartbeatTimeoutMs: 3000, deleteTimeoutMs: 6000, sweepIntervalMs: 500, selfPreservation: { windowMs: 5000 } },
};
const STOP_MS = 9000;

let daemon: Daemon | undefined;
let pool: Pool | undefined;

afterEach(async () => {
  daemon?.proc.kill('SIGCONT');
  await pool?.destroy();
  pool = undefined;
  await daemon?.stop();
  if (daemon) removeDir(daemon.dataDir);
  daemon = undefined;
});

describe('self-preservation across a SIGSTOP of vigil', () => {
  it('deletes none of the instances whose beats resumed, and still deletes those that stopped', async () => {
    daemon = await startDaemon({ config: CONFIG });
    const url = daemon.url;
    for (let i = 0; i < N; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => nacos(url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@fleet', ip: '127.0.0.1', port: BASE_PORT + i + j })),
      );
    }
    expect(await list(url, 'DEFAULT_GROUP@@fleet')).toHaveLength(N);

    // Light beats (no body): a deleted instance answers 20404 instead of being registered again.
    pool = new Pool(url, { connections: 16, headersTimeout: 30_000, bodyTimeout: 30_000 });
    let quit = false;
    const notFound = new Set<number>();
    const beatOnce = async (port: number): Promise<void> => {
      try {
        const res = await pool!.request({ method: 'PUT', path: `/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40fleet&ip=127.0.0.1&port=${port}` });
        const body = (await res.body.json()) as { code: number };
        if (body.code === 20404) notFound.add(port);
      } catch {
        // best-effort, like a client
      }
    };
    const round = (): void => {
      const active = quit ? N - QUITTERS : N;
      for (let i = 0; i < active; i++) void beatOnce(BASE_PORT + i);
    };
    round();
    const timer = setInterval(round, 1000);
    try {
      // Every instance has beaten at least twice: the beat flow is steady.
      await until(async () => (await beatStatus(url)).counters.beats >= 2 * N, 30_000, 100);

      quit = true; // the last QUITTERS instances stop beating for good, as vigil stops
      daemon.proc.kill('SIGSTOP');
      // The one deliberate wait: the length of the stop is the condition under test (longer than
      // the delete timeout). Nothing here waits for vigil to do something.
      await new Promise((r) => setTimeout(r, STOP_MS));
      daemon.proc.kill('SIGCONT');

      // vigil notices its own stall before it deletes anything: in the first answer that shows the
      // stall, nothing has been deleted yet (the quitters' deadlines were extended by the stall).
      const first = await until(async () => {
        const s = await beatStatus(url);
        return s.stall.totalMs > 0 && s;
      }, 30_000, 20);
      expect(first.counters.deleted).toBe(0);

      // The quitters go once vigil's own clock says their time is up; the others never do.
      let missing = 0;
      await until(async () => {
        const ports = new Set((await list(url, 'DEFAULT_GROUP@@fleet')).map((h) => h.port as number));
        for (let i = 0; i < N - QUITTERS; i++) if (!ports.has(BASE_PORT + i)) missing++;
        return [...ports].every((p) => p < BASE_PORT + N - QUITTERS);
      }, 20_000, 200);
      expect(missing).toBe(0);
      expect([...notFound].filter((p) => p < BASE_PORT + N - QUITTERS)).toEqual([]);

      const hosts = await list(url, 'DEFAULT_GROUP@@fleet');
      expect(hosts).toHaveLength(N - QUITTERS);
      expect(hosts.every((h) => h.healthy)).toBe(true);
      const status = await beatStatus(url);
      expect(status.stall.totalMs).toBeGreaterThanOrEqual(STOP_MS - 1500);
      expect(status.counters.deleted).toBe(QUITTERS);
    } finally {
      clearInterval(timer);
    }
  }, 90_000);
});
