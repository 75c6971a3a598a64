/**
 * A network cut, in process: every ephemeral instance falls silent at once while vigil runs on.
 * Deletion is held and vigil says so (API, event); beats coming back make the instances healthy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { beatStatus, list, nacos, startVigil, until, type Vigil } from '../nacos/helpers.js';

let vigil: Vigil | undefined;

afterEach(async () => {
  await vigil?.stop();
  vigil = undefined;
});

const N = 20;
const CONFIG = {
  beat: { clientBeatIntervalMs: 300, heartbeatTimeoutMs: 1000, deleteTimeoutMs: 2000, sweepIntervalMs: 100, selfPreservation: { windowMs: 1500, minInstances: 10 } },
};

describe('self-preservation during a network cut', () => {
  it('holds deletions while all instances are silent, reports it, and lets them recover when beats return', async () => {
    vigil = await startVigil(CONFIG);
    const url = vigil.url;
    const ports = Array.from({ length: N }, (_, i) => 21_000 + i);
    await Promise.all(ports.map((port) => nacos(url, 'POST', '/instance', { serviceName: 'DEFAULT_GROUP@@cut', ip: '127.0.0.1', port })));
    const beatAll = () => Promise.all(ports.map((port) => nacos(url, 'PUT', '/instance/beat', { serviceName: 'DEFAULT_GROUP@@cut', ip: '127.0.0.1', port })));
    for (let i = 0; i < 8; i++) {
      await beatAll();
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await beatStatus(url)).selfPreservation.engaged).toBe(false);

    // The cut: no beats for longer than the delete timeout.
    await new Promise((r) => setTimeout(r, 3500));
    const hosts = await list(url, 'DEFAULT_GROUP@@cut');
    expect(hosts).toHaveLength(N);
    expect(hosts.every((h) => !h.healthy)).toBe(true);
    const status = await beatStatus(url);
    expect(status.selfPreservation).toMatchObject({ engaged: true, held: N });
    expect(status.counters.deleted).toBe(0);
    expect((await nacos(url, 'GET', '/operator/metrics')).json.selfPreservation.engaged).toBe(true);

    // The cut heals.
    const healed = (async () => {
      for (let i = 0; i < 12; i++) {
        await beatAll();
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    await until(async () => (await list(url, 'DEFAULT_GROUP@@cut', { healthyOnly: true })).length === N, 3000, 50);
    await until(async () => !(await beatStatus(url)).selfPreservation.engaged, 4000, 100);
    await healed;
    expect((await beatStatus(url)).counters.deleted).toBe(0);
  }, 30_000);
});
