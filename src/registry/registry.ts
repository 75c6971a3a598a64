/**
 * The registry: instances with their health records, checker configs per service/cluster, the
 * whitelist and switches. Persistent data is written to the store before memory changes and before
 * a call returns (so before any API acknowledges it; a failed write throws and changes nothing).
 * Health records go to the store in batches through the health writer, which retries until the
 * store has them. Every change is announced to listeners as one event.
 */
import type { ProbeResult } from '../health/contract.js';
import { initialState, type HealthChange, type HealthState } from '../health/state-machine.js';
import { createMatcher, type WhitelistEntry, type WhitelistMatcher } from '../health/whitelist.js';
import {
  instanceKey,
  scopeKey,
  serviceKey,
  type CheckerConfig,
  type CheckerScope,
  type Instance,
  type InstanceId,
  type InstanceRecord,
  type ServiceId,
} from './model.js';
import type { HealthWriter } from './health-writer.js';
import type { Store } from './store.js';

export type RegistryEvent =
  | { readonly type: 'instance-registered'; readonly key: string; readonly record: InstanceRecord }
  | { readonly type: 'instance-updated'; readonly key: string; readonly record: InstanceRecord; readonly previous: Instance }
  | { readonly type: 'instance-deregistered'; readonly key: string; readonly instance: Instance; readonly cause?: DeregisterCause }
  | { readonly type: 'health-changed'; readonly key: string; readonly record: InstanceRecord; readonly change: HealthChange }
  /** An operator override was set, changed or cleared without flipping health (a flip is `health-changed`). */
  | { readonly type: 'override-changed'; readonly key: string; readonly record: InstanceRecord }
  | { readonly type: 'checker-config-changed'; readonly key: string; readonly scope: CheckerScope; readonly config: CheckerConfig | null }
  | { readonly type: 'whitelist-changed'; readonly entry: WhitelistEntry; readonly removed: boolean }
  | { readonly type: 'switch-changed'; readonly name: string; readonly value: unknown }
  | BeatProtectionEvent
  | PrimaryChangedEvent
  | SplitBrainEvent;

/**
 * The beat module protecting ephemeral instances: self-preservation engaged, released, or released
 * because it held too long (`exhausted`), or a stall of vigil itself was compensated. Changes no state.
 */
export interface BeatProtectionEvent {
  readonly type: 'beat-protection';
  readonly what: 'engaged' | 'released' | 'exhausted' | 'stall-compensated';
  readonly reason: string;
  readonly at: number;
  readonly detail: Readonly<Record<string, number>>;
}

/** Why an instance went away when it was not an explicit deregister (the beat module's expiry). */
export type DeregisterCause = 'expired';
/** One instance named in a primaries event. */
export interface PrimaryRef {
  readonly key: string;
  readonly cluster: string;
  readonly ip: string;
  readonly port: number;
}

/**
 * The writable primary of a service changed (docs/primaries.md). `to` null: no single primary now,
 * `reason` says why (`split-brain`, `all-down`, `all-read-only`, `primary-down`, `not-probed`).
 * `version` is what `GET /v1/services/{name}/primary` answers with from now on. Changes no state.
 */
export interface PrimaryChangedEvent {
  readonly type: 'primary-changed';
  readonly service: ServiceId;
  readonly from: PrimaryRef | null;
  readonly to: PrimaryRef | null;
  readonly reason: string;
  readonly version: string;
  readonly at: number;
}

/** Two or more instances of a service are writable (`raised`, with all of them), or no longer (`cleared`). */
export interface SplitBrainEvent {
  readonly type: 'split-brain';
  readonly what: 'raised' | 'cleared';
  readonly service: ServiceId;
  readonly candidates: readonly PrimaryRef[];
  readonly version: string;
  readonly at: number;
}

/** Events that report a decision and change no registry state, passed on by `announce`. */
export type AnnouncedEvent = BeatProtectionEvent | PrimaryChangedEvent | SplitBrainEvent;

export type Listener = (event: RegistryEvent) => void;

interface MutableRecord {
  instance: Instance;
  health: HealthState;
  lastProbe?: ProbeResult;
}

export interface Registry {
  register(instance: Instance): { created: boolean; record: InstanceRecord };
  deregister(id: InstanceId, cause?: DeregisterCause): Instance | undefined;
  get(key: string): InstanceRecord | undefined;
  /** The live record without copying it (hot paths); its fields change as the registry does. */
  peek(key: string): InstanceRecord | undefined;
  /** Bumped whenever an instance or a checker config changes, so caches of resolved configs can tell. */
  readonly generation: number;
  find(id: InstanceId): InstanceRecord | undefined;
  list(filter?: Partial<ServiceId> & { cluster?: string }): InstanceRecord[];
  /** Keys of all instances (the registry's own strings: no copies). */
  keys(): IterableIterator<string>;
  /** Keys of the instances of one service, for hot paths. */
  serviceInstances(service: ServiceId): InstanceRecord[];
  services(namespace?: string): ServiceId[];
  readonly size: number;
  /** Stores and persists a new health state; announces it when `change` (a flip) is given. */
  setHealth(key: string, health: HealthState, change?: HealthChange, lastProbe?: ProbeResult): void;
  /** Remembers the last probe result in memory (persisted with the next health change). */
  recordProbe(key: string, lastProbe: ProbeResult, health: HealthState): void;
  setCheckerConfig(scope: CheckerScope, config: CheckerConfig | null): void;
  checkerConfigs(): Array<{ key: string; scope: CheckerScope; config: CheckerConfig }>;
  /** The config that applies to an instance: its own, else its cluster's, else its service's. */
  resolveChecker(instance: Instance): CheckerConfig | undefined;
  putWhitelist(entry: WhitelistEntry): void;
  removeWhitelist(id: string): WhitelistEntry | undefined;
  whitelist(): WhitelistEntry[];
  /** A matcher over the live whitelist entries, rebuilt when entries change or one expires. */
  whitelistMatcher(now: number): WhitelistMatcher;
  setSwitch(name: string, value: unknown): void;
  getSwitch(name: string): unknown;
  subscribe(listener: Listener): () => void;
  /** Passes an event that changes no registry state to the listeners (beat protection, primaries). */
  announce(event: AnnouncedEvent): void;
}

export interface RegistryDeps {
  readonly store: Store;
  /** Where health changes of persistent instances go (batched, asynchronous). */
  readonly healthWriter: Pick<HealthWriter, 'put' | 'forget'>;
  readonly now?: () => number;
  /** Default initial health of new instances (Nacos: healthy). */
  readonly initialHealthy?: boolean;
  /** Re-validates a checker config read from the store; undefined keeps it as stored. */
  readonly reviveChecker?: (raw: unknown) => CheckerConfig | undefined;
}

/**
 * A key built by concatenation is a tree of V8 cons strings (up to ~300 bytes for a 50-character
 * key, measured), and the registry keeps one per instance for as long as the instance lives. A JSON
 * round trip returns a flat copy (~70 bytes); it costs about a microsecond, once per registration.
 */
function flat(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

export function createRegistry(deps: RegistryDeps): Registry {
  const { store, healthWriter } = deps;
  const now = deps.now ?? Date.now;
  const records = new Map<string, MutableRecord>();
  const byService = new Map<string, Set<string>>();
  const checkerCfgs = new Map<string, { scope: CheckerScope; config: CheckerConfig }>();
  const wl = new Map<string, WhitelistEntry>();
  const switches = new Map<string, unknown>();
  const listeners = new Set<Listener>();
  let matcher: WhitelistMatcher | undefined;
  let generation = 0;

  const emit = (event: RegistryEvent): void => {
    for (const l of listeners) l(event);
  };
  const snapshot = (r: MutableRecord): InstanceRecord =>
    r.lastProbe ? { instance: r.instance, health: r.health, lastProbe: r.lastProbe } : { instance: r.instance, health: r.health };
  const persist = (key: string, r: MutableRecord): void => {
    if (!r.instance.ephemeral) healthWriter.put(key, r.lastProbe ? { health: r.health, lastProbe: r.lastProbe } : { health: r.health });
  };
  const index = (key: string, inst: Instance): void => {
    const sk = serviceKey(inst);
    let set = byService.get(sk);
    if (!set) byService.set(sk, (set = new Set()));
    set.add(key);
  };
  const unindex = (key: string, inst: Instance): void => {
    const sk = serviceKey(inst);
    const set = byService.get(sk);
    set?.delete(key);
    if (set?.size === 0) byService.delete(sk);
  };
  const revive = (raw: unknown): CheckerConfig => deps.reviveChecker?.(raw) ?? (raw as CheckerConfig);
  // Names repeat across thousands of instances; one copy of each saves ~200 bytes an instance.
  const names = new Map<string, string>();
  const intern = (s: string): string => {
    const known = names.get(s);
    if (known !== undefined) return known;
    names.set(s, s);
    return s;
  };
  const interned = (i: Instance): Instance => ({
    ...i,
    namespace: intern(i.namespace),
    group: intern(i.group),
    service: intern(i.service),
    cluster: intern(i.cluster),
  });

  // Load what the store holds: persistent instances keep their last known health.
  const snap = store.load();
  for (const { key, instance, health } of snap.instances) {
    const inst = interned(instance.checker ? { ...instance, checker: revive(instance.checker) } : instance);
    const rec: MutableRecord = { instance: inst, health: health?.health ?? initialState(now(), inst.initialHealthy ?? deps.initialHealthy ?? true) };
    if (health?.lastProbe) rec.lastProbe = health.lastProbe;
    records.set(key, rec);
    index(key, inst);
  }
  for (const c of snap.checkerConfigs) checkerCfgs.set(c.key, { scope: c.scope, config: revive(c.config) });
  for (const e of snap.whitelist) wl.set(e.id, e);
  for (const [k, v] of Object.entries(snap.switches)) switches.set(k, v);

  const registry: Registry = {
    register(instance) {
      const key = flat(instanceKey(instance));
      const existing = records.get(key);
      if (existing) {
        const previous = existing.instance;
        const merged: Instance = { ...instance, registeredAt: previous.registeredAt };
        if (!merged.ephemeral) store.putInstance(key, merged, { health: existing.health });
        else if (!previous.ephemeral) {
          store.deleteInstance(key);
          healthWriter.forget(key);
        }
        existing.instance = merged;
        generation++;
        const record = snapshot(existing);
        emit({ type: 'instance-updated', key, record, previous });
        return { created: false, record };
      }
      const rec: MutableRecord = { instance, health: initialState(now(), instance.initialHealthy ?? deps.initialHealthy ?? true) };
      if (!instance.ephemeral) store.putInstance(key, instance, { health: rec.health });
      records.set(key, rec);
      index(key, instance);
      const record = snapshot(rec);
      emit({ type: 'instance-registered', key, record });
      return { created: true, record };
    },
    deregister(id, cause) {
      const key = instanceKey(id);
      const rec = records.get(key);
      if (!rec) return undefined;
      if (!rec.instance.ephemeral) {
        store.deleteInstance(key);
        healthWriter.forget(key);
      }
      records.delete(key);
      unindex(key, rec.instance);
      emit(cause ? { type: 'instance-deregistered', key, instance: rec.instance, cause } : { type: 'instance-deregistered', key, instance: rec.instance });
      return rec.instance;
    },
    get(key) {
      const r = records.get(key);
      return r && snapshot(r);
    },
    peek: (key) => records.get(key),
    get generation() {
      return generation;
    },
    find: (id) => registry.get(instanceKey(id)),
    keys: () => records.keys(),
    list(filter = {}) {
      const out: InstanceRecord[] = [];
      for (const r of records.values()) {
        const i = r.instance;
        if (filter.namespace !== undefined && i.namespace !== filter.namespace) continue;
        if (filter.group !== undefined && i.group !== filter.group) continue;
        if (filter.service !== undefined && i.service !== filter.service) continue;
        if (filter.cluster !== undefined && i.cluster !== filter.cluster) continue;
        out.push(snapshot(r));
      }
      return out;
    },
    serviceInstances(service) {
      const keys = byService.get(serviceKey(service));
      if (!keys) return [];
      const out: InstanceRecord[] = [];
      for (const k of keys) {
        const r = records.get(k);
        if (r) out.push(snapshot(r));
      }
      return out;
    },
    services(namespace) {
      const seen = new Map<string, ServiceId>();
      for (const r of records.values()) {
        const i = r.instance;
        if (namespace !== undefined && i.namespace !== namespace) continue;
        const sk = serviceKey(i);
        if (!seen.has(sk)) seen.set(sk, { namespace: i.namespace, group: i.group, service: i.service });
      }
      return [...seen.values()];
    },
    get size() {
      return records.size;
    },
    setHealth(key, health, change, lastProbe) {
      const rec = records.get(key);
      if (!rec) return;
      const overrideBefore = rec.health.override;
      rec.health = health;
      if (lastProbe) rec.lastProbe = lastProbe;
      persist(key, rec);
      if (change) emit({ type: 'health-changed', key, record: snapshot(rec), change });
      else if (health.override !== overrideBefore) emit({ type: 'override-changed', key, record: snapshot(rec) });
    },
    recordProbe(key, lastProbe, health) {
      const rec = records.get(key);
      if (!rec) return;
      rec.lastProbe = lastProbe;
      rec.health = health;
    },
    setCheckerConfig(scope, config) {
      const key = scopeKey(scope);
      if (config) {
        store.putCheckerConfig(key, { scope, config });
        checkerCfgs.set(key, { scope, config });
      } else {
        store.deleteCheckerConfig(key);
        checkerCfgs.delete(key);
      }
      generation++;
      emit({ type: 'checker-config-changed', key, scope, config });
    },
    checkerConfigs: () => [...checkerCfgs].map(([key, v]) => ({ key, ...v })),
    resolveChecker(instance) {
      return (
        instance.checker ??
        checkerCfgs.get(scopeKey({ ...instance, cluster: instance.cluster }))?.config ??
        checkerCfgs.get(scopeKey({ namespace: instance.namespace, group: instance.group, service: instance.service }))?.config
      );
    },
    putWhitelist(entry) {
      store.putWhitelist(entry);
      wl.set(entry.id, entry);
      matcher = undefined;
      emit({ type: 'whitelist-changed', entry, removed: false });
    },
    removeWhitelist(id) {
      const entry = wl.get(id);
      if (!entry) return undefined;
      store.deleteWhitelist(id);
      wl.delete(id);
      matcher = undefined;
      emit({ type: 'whitelist-changed', entry, removed: true });
      return entry;
    },
    whitelist: () => [...wl.values()],
    whitelistMatcher(now) {
      if (!matcher || now >= matcher.validUntil) matcher = createMatcher([...wl.values()], now);
      return matcher;
    },
    setSwitch(name, value) {
      store.putSwitch(name, value);
      switches.set(name, value);
      emit({ type: 'switch-changed', name, value });
    },
    getSwitch: (name) => switches.get(name),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    announce: emit,
  };
  return registry;
}
