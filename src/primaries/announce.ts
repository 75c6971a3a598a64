/**
 * Turns a change of a service's answer into the events of the registry's one feed:
 * `primary-changed` when the primary named changes (to another instance or to none), `split-brain`
 * `raised` when two or more instances become writable (again when that set changes) and `cleared`
 * when they no longer are. The first answer after start-up is compared with "no primary".
 */
import type { ServiceId } from '../registry/model.js';
import type { PrimaryRef, Registry } from '../registry/registry.js';
import type { Answer } from './decide.js';

export interface Named {
  readonly answer: Answer | undefined;
  /** The instances the answer may name, by key. */
  readonly refs: ReadonlyMap<string, PrimaryRef>;
}

function primaryOf(a: Answer | undefined): string | null {
  return a?.kind === 'one' ? a.primary : null;
}

function reasonOf(a: Answer): string {
  if (a.kind === 'one') return 'writable';
  return a.kind === 'split' ? 'split-brain' : a.reason;
}

export function announceAnswer(registry: Pick<Registry, 'announce'>, service: ServiceId, prev: Named, next: Named & { answer: Answer }, at: number): void {
  const ref = (n: Named, key: string | null): PrimaryRef | null => (key === null ? null : (n.refs.get(key) ?? null));
  const refsOf = (n: Named): PrimaryRef[] => (n.answer?.candidates ?? []).map((k) => n.refs.get(k)).filter((r): r is PrimaryRef => r !== undefined);
  const sid = { namespace: service.namespace, group: service.group, service: service.service };
  const { version } = next.answer;
  const wasSplit = prev.answer?.kind === 'split';
  const isSplit = next.answer.kind === 'split';
  if (wasSplit && !isSplit) registry.announce({ type: 'split-brain', what: 'cleared', service: sid, candidates: refsOf(prev), version, at });
  const from = primaryOf(prev.answer);
  const to = primaryOf(next.answer);
  if (from !== to) {
    registry.announce({ type: 'primary-changed', service: sid, from: ref(prev, from), to: ref(next, to), reason: reasonOf(next.answer), version, at });
  }
  if (isSplit) registry.announce({ type: 'split-brain', what: 'raised', service: sid, candidates: refsOf(next), version, at });
}
