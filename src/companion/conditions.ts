/**
 * What is wrong between the companion and its Nacos server, one entry per condition (unreachable,
 * credentials refused, malformed answer, a cluster refusing external health, …). A condition is
 * logged once when it appears and once when it clears, never per request, and the status API
 * shows every condition that holds now.
 */
import type { Logger } from 'pino';

export type ConditionKind = 'unreachable' | 'auth' | 'malformed' | 'refused' | 'server-error' | 'namespaces';

export interface Condition {
  readonly kind: ConditionKind;
  /** What it is about: a server address, a path, a cluster. */
  readonly subject: string;
  readonly message: string;
  readonly since: number;
  /** Times it was seen again since it was logged. */
  readonly repeats: number;
}

export interface Conditions {
  raise(kind: ConditionKind, subject: string, message: string): void;
  clear(kind: ConditionKind, subject?: string): void;
  list(): Condition[];
}

export function createConditions(logger: Logger, now: () => number): Conditions {
  const active = new Map<string, Condition>();
  const keyOf = (kind: ConditionKind, subject: string): string => `${kind} ${subject}`;

  return {
    raise(kind, subject, message) {
      const key = keyOf(kind, subject);
      const seen = active.get(key);
      if (seen) {
        active.set(key, { ...seen, message, repeats: seen.repeats + 1 });
        return;
      }
      active.set(key, { kind, subject, message, since: now(), repeats: 0 });
      logger.warn({ condition: kind, subject }, `nacos companion: ${message}`);
    },
    clear(kind, subject) {
      for (const [key, c] of active) {
        if (c.kind !== kind || (subject !== undefined && c.subject !== subject)) continue;
        active.delete(key);
        logger.info({ condition: kind, subject: c.subject, lastedMs: now() - c.since }, `nacos companion: ${kind} cleared`);
      }
    },
    list: () => [...active.values()],
  };
}
