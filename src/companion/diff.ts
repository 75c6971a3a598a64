/**
 * What one poll of the Nacos server means for the local working copy: persistent instances to
 * add, to update (weight, enabled, metadata or checker changed) and to drop. Pure. An instance is
 * dropped only when the poll read its whole service: a service whose answer failed keeps its
 * instances, and an incomplete poll drops nothing, so a flaky server never empties the copy.
 */
import type { CheckerConfig, Instance, InstanceId } from '../registry/model.js';
import type { MappedChecker } from './checker-mapping.js';

export interface Discovered {
  readonly key: string;
  readonly id: InstanceId;
  /** Health as the server shows it after this poll. */
  readonly serverHealthy: boolean;
  /** False when the server showed the service past its protect threshold (every host healthy). */
  readonly serverViewReliable: boolean;
  readonly weight: number;
  readonly enabled: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  readonly checker: MappedChecker;
}

export interface PollSnapshot {
  readonly instances: ReadonlyMap<string, Discovered>;
  /** Service keys (`ns/group@@name`) whose instances could not be read this time. */
  readonly failedServices: ReadonlySet<string>;
  /** False when the service listing itself was cut short. */
  readonly complete: boolean;
}

export interface MirrorPlan {
  readonly add: Discovered[];
  readonly update: Discovered[];
  readonly drop: string[];
}

export function sameChecker(a: CheckerConfig | undefined, b: CheckerConfig | undefined): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function sameMetadata(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export function planMirror(local: ReadonlyMap<string, Instance>, snap: PollSnapshot, serviceKeyOf: (i: InstanceId) => string): MirrorPlan {
  const add: Discovered[] = [];
  const update: Discovered[] = [];
  const drop: string[] = [];
  for (const d of snap.instances.values()) {
    const cur = local.get(d.key);
    if (!cur) add.push(d);
    else if (cur.weight !== d.weight || cur.enabled !== d.enabled || !sameMetadata(cur.metadata, d.metadata) || !sameChecker(cur.checker, d.checker.config)) update.push(d);
  }
  if (snap.complete) {
    for (const [key, inst] of local) {
      if (!inst.ephemeral && !snap.instances.has(key) && !snap.failedServices.has(serviceKeyOf(inst))) drop.push(key);
    }
  }
  return { add, update, drop };
}
