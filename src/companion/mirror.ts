/**
 * Keeps the local working copy — the registry the scheduler probes — in step with the Nacos
 * server's persistent instances. Only the local copy is changed here; nothing is ever registered,
 * changed or removed on the server. An instance seen for the first time by this process starts
 * from the server's view of its health, and with `firstProbeDecides` its first probe is one short
 * of a flip either way, so the server shows the probed truth after one poll plus one probe; after
 * that rise/fall apply as usual. With peers, an instance another node owns follows the server's
 * view (what its owner wrote) and is seeded afresh when this node takes it over.
 */
import { initialState, type HealthState, type Thresholds } from '../health/state-machine.js';
import type { Instance } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import type { Discovered, MirrorPlan } from './diff.js';

export function seededState(serverHealthy: boolean, now: number, t: Thresholds, firstProbeDecides: boolean): HealthState {
  const s = initialState(now, serverHealthy);
  if (!firstProbeDecides) return s;
  return Object.freeze({
    ...s,
    reason: 'nacos',
    okStreak: serverHealthy ? 0 : Math.max(0, t.rise - 1),
    failStreak: serverHealthy ? Math.max(0, t.fall - 1) : 0,
  });
}

export function toInstance(d: Discovered, registeredAt: number): Instance {
  return { ...d.id, weight: d.weight, enabled: d.enabled, ephemeral: false, metadata: d.metadata, checker: d.checker.config, registeredAt };
}

export interface MirrorDeps {
  readonly registry: Registry;
  readonly now: () => number;
  readonly thresholds: (d: Discovered) => Thresholds;
  readonly firstProbeDecides: boolean;
  /** Keys seen by this process (seeded already). */
  readonly seen: Set<string>;
}

/** Applies `plan` to the local registry; returns the keys it dropped. */
export function applyMirror(plan: MirrorPlan, deps: MirrorDeps): string[] {
  const { registry } = deps;
  const at = deps.now();
  for (const d of [...plan.add, ...plan.update]) {
    const cur = registry.peek(d.key)?.instance;
    registry.register(toInstance(d, cur?.registeredAt ?? at));
  }
  for (const key of plan.drop) {
    const inst = registry.peek(key)?.instance;
    if (inst) registry.deregister(inst);
    deps.seen.delete(key);
  }
  return plan.drop;
}

/**
 * Seeds the health of instances this process has not seen yet (as its own: `mine`) from the
 * server's view; the others follow the server's view without an event, as it is not decided here.
 */
export function seedNew(instances: Iterable<Discovered>, deps: MirrorDeps, mine: (key: string) => boolean = () => true): void {
  for (const d of instances) {
    if (!mine(d.key)) {
      deps.seen.delete(d.key);
      followServer(d, deps);
      continue;
    }
    if (deps.seen.has(d.key)) continue;
    deps.seen.add(d.key);
    const rec = deps.registry.peek(d.key);
    // An operator's override on this node stays; everything else restarts from the server's view.
    if (!rec || rec.health.override) continue;
    deps.registry.setHealth(d.key, seededState(d.serverHealthy, deps.now(), deps.thresholds(d), deps.firstProbeDecides));
  }
}

function followServer(d: Discovered, deps: MirrorDeps): void {
  const rec = deps.registry.peek(d.key);
  if (!rec || rec.health.override || !d.serverViewReliable || rec.health.healthy === d.serverHealthy) return;
  deps.registry.setHealth(d.key, seededState(d.serverHealthy, deps.now(), deps.thresholds(d), deps.firstProbeDecides));
}
