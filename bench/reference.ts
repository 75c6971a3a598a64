/** The reference the benchmarks compare against: a bare Node connect-and-destroy loop. */
import { connect } from 'node:net';

export interface Reference {
  readonly connects: number;
  readonly cpuUsPerConnect: number;
}

/**
 * Opens and resets `total` connections, `concurrency` at a time, to the i-th of `targets(i)`;
 * returns the CPU per connect of this process.
 */
export async function bareConnectLoop(targets: (i: number) => { host: string; port: number }, total: number, concurrency = 64): Promise<Reference> {
  let started = 0;
  const cpu0 = process.cpuUsage();
  async function worker(): Promise<void> {
    while (started < total) {
      const { host, port } = targets(started++);
      await new Promise<void>((resolve) => {
        const s = connect({ host, port, autoSelectFamily: false });
        s.once('connect', () => {
          s.resetAndDestroy();
          resolve();
        });
        s.once('error', () => {
          s.destroy();
          resolve();
        });
      });
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage(cpu0);
  return { connects: total, cpuUsPerConnect: (cpu.user + cpu.system) / total };
}
