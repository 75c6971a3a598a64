/**
 * A paused registry (SIGSTOP): the companion notices (its reads time out), freezes writing, keeps
 * probing, and when the registry resumes writes each instance's latest health once — or nothing,
 * when the instance ended where the registry already had it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { healthOf, instancesOf, register, startCompanion, startRegistry, statusOf, switchableTcp, type SwitchableTarget } from './helpers.js';

const DEADLINE = 20_000;

describe('companion with a paused registry', () => {
  let registry: Daemon;
  let companion: Daemon;
  let target: SwitchableTarget;

  beforeAll(async () => {
    registry = await startRegistry();
    target = await switchableTcp();
    await register(registry.url, 'db', target.port);
    companion = await startCompanion(registry.url);
    await waitFor(async () => (await statusOf(companion.url)).instances === 1, DEADLINE);
  }, 60_000);

  afterAll(async () => {
    registry?.proc.kill('SIGCONT');
    await companion?.kill();
    await registry?.stop();
    await target?.close();
    for (const d of [companion, registry]) if (d) removeDir(d.dataDir);
  });

  const local = (): Promise<boolean | undefined> => healthOf(companion.url, 'db', target.port);
  const version = async (): Promise<number> => (await instancesOf(registry.url)).get(`db:${target.port}`)!.version;

  const outageLines = (): number => companion.output().split('\n').filter((l) => l.includes('"condition":"unreachable"') && l.includes('"level":40')).length;
  let linesBefore = 0;
  let failedBefore = 0;

  async function pause(): Promise<void> {
    linesBefore = outageLines();
    failedBefore = (await statusOf(companion.url)).polls.failed;
    registry.proc.kill('SIGSTOP');
    await waitFor(async () => {
      const s = await statusOf(companion.url);
      return s.writes.frozen && s.conditions.some((c: any) => c.kind === 'unreachable');
    }, DEADLINE);
  }

  async function resume(): Promise<void> {
    // Several reads failed during the pause, and the log says so once.
    await waitFor(async () => (await statusOf(companion.url)).polls.failed >= failedBefore + 2, DEADLINE);
    expect(outageLines()).toBe(linesBefore + 1);
    registry.proc.kill('SIGCONT');
    await waitFor(async () => {
      const s = await statusOf(companion.url);
      return !s.writes.frozen && s.writes.pending === 0 && s.conditions.length === 0;
    }, DEADLINE);
  }

  it('keeps probing while the registry is paused, logs the outage once, and then writes only the latest health, once', async () => {
    const v0 = await version();
    await pause();
    // Down, up, down again while the registry cannot hear about it.
    await target.down();
    await waitFor(async () => (await local()) === false, DEADLINE);
    await target.up();
    await waitFor(async () => (await local()) === true, DEADLINE);
    await target.down();
    await waitFor(async () => (await local()) === false, DEADLINE);
    expect((await statusOf(companion.url)).writes.sent).toBe(0);
    await resume();
    await waitFor(async () => (await healthOf(registry.url, 'db', target.port)) === false, DEADLINE);
    expect(await version()).toBe(v0 + 1);
    expect((await statusOf(companion.url)).writes.sent).toBe(1);
  });

  it('writes nothing when the instance ends where the registry already has it', async () => {
    const v1 = await version();
    await pause();
    await target.up();
    await waitFor(async () => (await local()) === true, DEADLINE);
    await target.down();
    await waitFor(async () => (await local()) === false, DEADLINE);
    await resume();
    const start = (await statusOf(companion.url)).polls.ok;
    await waitFor(async () => (await statusOf(companion.url)).polls.ok >= start + 2, DEADLINE);
    expect(await version()).toBe(v1);
    expect(await healthOf(registry.url, 'db', target.port)).toBe(false);
    expect((await statusOf(companion.url)).writes.sent).toBe(1);
  });
});
