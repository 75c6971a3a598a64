/**
 * An operator's decision (health override set, cleared or expired) replayed on another copy of the
 * record: the copy in the shared store, which may be newer than the one the deciding node holds
 * (only the shard's owner sees every probe decision at once). The state machine decides again on
 * the stored state, so the stored streaks, health and version are kept and the override is the
 * operator's, whichever node the request reached.
 */
import { expireOverride, setOverride } from '../health/state-machine.js';
import type { StoredHealth } from '../registry/store.js';

export function replayOperator(stored: StoredHealth, decided: StoredHealth, now: number): StoredHealth {
  const h = decided.health;
  const t = h.override !== undefined ? setOverride(stored.health, h.override, now) : h.reason === 'override-expired' ? expireOverride(stored.health, now) : setOverride(stored.health, null, now);
  return t.state === stored.health ? stored : { ...stored, health: t.state };
}
