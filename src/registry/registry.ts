/**
 * The registry: instances with their health records, checker configs per service/cluster, the
 * whitelist and switches. Persistent data is written to the store before memory changes and before
 * a call returns (so before any API acknowledges it; a failed write throws and changes nothing).
 * Health records go to the store in batches through the health writer, which retries until the
 * store has them. Every change is announced to listeners as one event.
 *
 * A store across the network (MySQL, cluster mode) answers its writes with promises: memory then
 * changes, and the event goes out, only once the store committed, and an API handler awaits
 * `committed()` before it acknowledges. In cluster mode health decided here is published (a fenced
 * write under the shard's epoch, then broadcast) before memory changes; a publication the store
 * refuses changes nothing. Changes from elsewhere (peers, the store's change feed) enter through
 * `apply`, marked with their origin, and are never published again.
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
import type { MemberChange } from '../cluster/member-changes.js';
import type { Role } from '../primaries/role.js';
import { compareStamps } from '../cluster/stamp.js';
import { roleFact } from '../primaries/role.js';
import type { HealthWriter } from './health-writer.js';
import { createRecordTable, type PlainHealthField, type RecordTable } from './record-table.js';
import type { Settings, Store, StoredHealth, StoreSnapshot } from './store.js';

/** Where a change came from: this node's own decision or API, or elsewhere (a peer, the store's feed). */
export type Origin = 'local' | 'peer';

export type RegistryEvent =
  | { readonly type: 'instance-registered'; readonly key: string; readonly record: InstanceRecord; readonly origin?: Origin }
  | { readonly type: 'instance-updated'; readonly key: string; readonly record: InstanceRecord; readonly previous: Instance; readonly origin?: Origin }
  | { readonly type: 'instance-deregistered'; readonly key: string; readonly instance: Instance; readonly cause?: DeregisterCause; readonly origin?: Origin }
  | { readonly type: 'health-changed'; readonly key: string; readonly record: InstanceRecord; readonly change: HealthChange; readonly origin?: Origin }
  /** An operator override was set, changed or cleared without flipping health (a flip is `health-changed`). */
  | { readonly type: 'override-changed'; readonly key: string; readonly record: InstanceRecord }
  | { readonly type: 'checker-config-changed'; readonly key: string; readonly scope: CheckerScope; readonly config: CheckerConfig | null; readonly origin?: Origin }
  | { readonly type: 'whitelist-changed'; readonly entry: WhitelistEntry; readonly removed: boolean; readonly origin?: Origin }
  | { readonly type: 'switch-changed'; readonly name: string; readonly value: unknown; readonly origin?: Origin }
  | BeatProtectionEvent
  | PrimaryChangedEvent
  | SplitBrainEvent
  | RoleChangedEvent
  | MemberChangedEvent;

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

/**
 * The role a database instance reports changed (primaries/role.ts): `from` null when it had none
 * yet; `unknown` once it is DOWN without having read a role. Changes no state.
 */
export interface RoleChangedEvent {
  readonly type: 'role-changed';
  readonly key: string;
  readonly instance: Instance;
  readonly from: Role | null;
  readonly to: Role;
  readonly at: number;
}

/** Cluster mode: a peer came up or went down in this node's membership view (cluster/member-changes.ts). */
export interface MemberChangedEvent extends MemberChange {
  readonly type: 'member-changed';
  /** The node whose view it is (each node reports what it sees). */
  readonly observedBy: string;
}

/** Events that report a decision and change no registry state, passed on by `announce`. */
export type AnnouncedEvent = BeatProtectionEvent | PrimaryChangedEvent | SplitBrainEvent | RoleChangedEvent | MemberChangedEvent;

export type Listener = (event: RegistryEvent) => void;

/** A health record that arrived from elsewhere, with the stamp that orders it (cluster/stamp.ts). */
export interface AppliedHealth {
  readonly key: string;
  readonly health: StoredHealth;
  readonly epoch: number;
  readonly decidedByNode: string | null;
}

/** A write the store completes now (embedded) or later (across the network). */
type Write = void | Promise<void>;

/** The store as the registry uses it: the embedded store's synchronous writes, or a network store's promises. */
export interface RegistryStore {
  /** Synchronous (embedded); a network store's promise must be awaited by the caller and passed as `snapshot`. */
  load?(): StoreSnapshot | Promise<StoreSnapshot>;
  putInstance(key: string, instance: Instance, health: StoredHealth): Write;
  deleteInstance(key: string): Write;
  putCheckerConfig(key: string, value: { scope: CheckerScope; config: unknown }): Write;
  deleteCheckerConfig(key: string): Write;
  putWhitelist(entry: WhitelistEntry): Write;
  deleteWhitelist(id: string): Write;
  putSwitch(name: string, value: unknown): Write;
}

/** Cluster mode: publication of health decided on this node (cluster-node.ts `publishHealth`). */
export interface HealthPublisher {
  readonly nodeId: string;
  /** Resolves with the epoch written under, and with the record stored when it differs from `health` (an operator's decision replayed on the stored one). */
  publish(key: string, health: StoredHealth): Promise<{ epoch: number; health?: StoredHealth }>;
  /** A publication refused or failed: nothing changed; the next probe decides again. */
  onRefused(key: string, err: unknown): void;
}

export interface Registry {
  register(instance: Instance): { created: boolean; record: InstanceRecord };
  deregister(id: InstanceId, cause?: DeregisterCause): Instance | undefined;
  get(key: string): InstanceRecord | undefined;
  /** The live record without copying it (hot paths); its fields change as the registry does. */
  peek(key: string): LiveRecord | undefined;
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
  /** Resolves when the store committed every write issued in this synchronous run (rejects with its error). */
  committed(): Promise<void>;
  /** Applies a change from elsewhere (peer, store feed) to memory only; `null` deregisters. Never published again. */
  applyInstance(key: string, instance: Instance | null): void;
  /** Applies a health record from elsewhere when its stamp is newer than the one held (checked by the caller). */
  applyHealth(row: AppliedHealth): void;
  /**
   * Cluster mode: the settings as the store holds them now (another node changed them). Memory
   * takes the difference, one event per entry changed (origin `peer`); returns how many changed.
   */
  applySettings(settings: Settings): number;
  /**
   * Applies an ephemeral instance replicated by the node responsible for it (cluster/ephemeral*.ts):
   * registers or updates it with its health, or removes it (`null`). Memory only, origin `peer`.
   */
  applyEphemeral(key: string, entry: { readonly instance: Instance; readonly health: HealthState } | null, cause?: DeregisterCause): void;
  /** The stamp of the health held for `key`, for the caller's newer-than check. */
  stampOf(key: string): { epoch: number; version: number } | undefined;
  /** The node that decided an instance's current health (cluster mode), if known. */
  decidedByNode(key: string): string | undefined;
  /** Passes an event that changes no registry state to the listeners (beat protection, primaries). */
  announce(event: AnnouncedEvent): void;
}

export interface RegistryDeps {
  readonly store: RegistryStore | Store;
  /** What the store held at start, when it cannot be read synchronously (MySQL: `await store.load()`). */
  readonly snapshot?: StoreSnapshot;
  /** Cluster mode: health of persistent instances is published here instead of the health writer. */
  readonly publisher?: HealthPublisher;
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

/** Most instances carry no metadata: one frozen empty object serves them all (~56 bytes an instance). */
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/**
 * One object per distinct checker config (by its JSON, configs being validated and frozen):
 * instances registered with equal per-instance configs share it, and so does the scheduler's plan
 * built for it. Held weakly, so a config no instance uses any more is forgotten.
 */
function createConfigInterner(): (config: CheckerConfig) => CheckerConfig {
  const byJson = new Map<string, WeakRef<CheckerConfig>>();
  const gone = new FinalizationRegistry<string>((json) => {
    if (byJson.get(json)?.deref() === undefined) byJson.delete(json);
  });
  return (config) => {
    const json = JSON.stringify(config);
    const known = byJson.get(json)?.deref();
    if (known) return known;
    byJson.set(json, new WeakRef(config));
    gone.register(config, json);
    return config;
  };
}

/** A record as the registry holds it (`Registry.peek`). */
export interface LiveRecord extends InstanceRecord {
  /**
   * The health to read on a path taken per probe: the record itself, its fields read in place where
   * they are packed, when it holds no override; otherwise `health`. Read it at once and keep
   * nothing of it: it changes with the record. Building a HealthState twice per probe was a third
   * of what reached the old generation at 100k instances (bench/README.md).
   */
  peekHealth(): HealthState;
}

/**
 * One instance's record. While it is in the registry its health and last probe live packed in the
 * registry's record table (record-table.ts) under its slot; before it is added and after it is
 * removed it holds them itself, so a record someone still holds never reads a reused slot.
 */
interface MutableRecord {
  instance: Instance;
  health: HealthState;
  lastProbe: ProbeResult | undefined;
  /** Cluster mode: the shard epoch and the node under which the current health was decided. */
  epoch?: number;
  decidedByNode?: string;
  /** Cluster mode: the probe result last published or applied with the health (its role counts). */
  published?: ProbeResult;
  /** See `LiveRecord.peekHealth`. */
  peekHealth(): HealthState;
  /** Moves health and last probe into the table (the record joins the registry). */
  attach(): void;
  /** Moves them back out and frees the slot (the record left the registry). */
  detach(): void;
}

function recordClass(table: RecordTable): new (instance: Instance, health: HealthState) => MutableRecord {
  return class PackedRecord implements MutableRecord {
    instance: Instance;
    epoch?: number;
    decidedByNode?: string;
    published?: ProbeResult;
    #slot = -1;
    #health: HealthState | undefined;
    #lastProbe: ProbeResult | undefined;
    constructor(instance: Instance, health: HealthState) {
      this.instance = instance;
      this.#health = health;
    }
    get health(): HealthState {
      return this.#slot < 0 ? this.#health! : table.health(this.#slot);
    }
    set health(h: HealthState) {
      if (this.#slot < 0) this.#health = h;
      else table.setHealth(this.#slot, h);
    }
    get healthy(): boolean {
      return this.#field('healthy');
    }
    get since(): number {
      return this.#field('since');
    }
    get version(): number {
      return this.#field('version');
    }
    get okStreak(): number {
      return this.#field('okStreak');
    }
    get failStreak(): number {
      return this.#field('failStreak');
    }
    get reason(): string {
      return this.#field('reason');
    }
    get decidedBy(): HealthState['decidedBy'] {
      return this.#field('decidedBy');
    }
    #field<K extends PlainHealthField>(field: K): HealthState[K] {
      return this.#slot < 0 ? this.#health![field] : table.healthField(this.#slot, field);
    }
    peekHealth(): HealthState {
      if (this.#slot < 0) return this.#health!;
      return table.hasOverride(this.#slot) ? table.health(this.#slot) : this;
    }
    get lastProbe(): ProbeResult | undefined {
      return this.#slot < 0 ? this.#lastProbe : table.lastProbe(this.#slot);
    }
    set lastProbe(p: ProbeResult | undefined) {
      if (this.#slot < 0) this.#lastProbe = p;
      else table.setLastProbe(this.#slot, p);
    }
    attach(): void {
      if (this.#slot >= 0) return;
      this.#slot = table.alloc();
      table.setHealth(this.#slot, this.#health!);
      table.setLastProbe(this.#slot, this.#lastProbe);
      this.#health = this.#lastProbe = undefined;
    }
    detach(): void {
      if (this.#slot < 0) return;
      this.#health = table.health(this.#slot);
      this.#lastProbe = table.lastProbe(this.#slot);
      table.free(this.#slot);
      this.#slot = -1;
    }
  };
}

export function createRegistry(deps: RegistryDeps): Registry {
  const { store, healthWriter } = deps;
  const now = deps.now ?? Date.now;
  const records = new Map<string, MutableRecord>();
  const Record = recordClass(createRecordTable(1024));
  /** Adds or removes a record: its health moves into or out of the packed table with it. */
  const putRecord = (key: string, rec: MutableRecord): void => {
    rec.attach();
    records.set(key, rec);
  };
  const dropRecord = (key: string, rec: MutableRecord): void => {
    records.delete(key);
    rec.detach();
  };
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
  // Writes issued in the current synchronous run, for committed(); reset at the next microtask.
  let writes: Array<Promise<void>> = [];
  /** Runs `apply` once the store has the write: now for the embedded store, after commit for a network store. */
  const track = (done: Promise<void>): void => {
    done.catch(() => {}); // the error belongs to whoever awaits committed()
    if (writes.length === 0) queueMicrotask(() => (writes = []));
    writes.push(done);
  };
  const write = (w: Write, apply: () => void): void => {
    if (!(w instanceof Promise)) return apply();
    track(w.then(apply));
  };
  const snapshot = (r: MutableRecord): InstanceRecord => {
    const lastProbe = r.lastProbe;
    return lastProbe ? { instance: r.instance, health: r.health, lastProbe } : { instance: r.instance, health: r.health };
  };
  const persist = (key: string, r: MutableRecord): void => {
    if (r.instance.ephemeral) return;
    const lastProbe = r.lastProbe;
    healthWriter.put(key, lastProbe ? { health: r.health, lastProbe } : { health: r.health });
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
  const sharedConfig = createConfigInterner();
  const interned = (i: Instance): Instance => ({
    ...i,
    namespace: intern(i.namespace),
    group: intern(i.group),
    service: intern(i.service),
    cluster: intern(i.cluster),
    metadata: isEmpty(i.metadata) ? NO_METADATA : i.metadata,
    ...(i.checker ? { checker: sharedConfig(i.checker) } : {}),
  });

  // Load what the store holds: persistent instances keep their last known health.
  const snap = deps.snapshot ?? store.load?.();
  if (!snap || snap instanceof Promise) throw new Error('createRegistry: a store without a synchronous load() needs deps.snapshot');
  for (const { key, instance, health, epoch, decidedByNode } of snap.instances) {
    const inst = interned(instance.checker ? { ...instance, checker: revive(instance.checker) } : instance);
    const rec = new Record(inst, health?.health ?? initialState(now(), inst.initialHealthy ?? deps.initialHealthy ?? true));
    if (health?.lastProbe) rec.lastProbe = rec.published = health.lastProbe;
    if (epoch !== undefined) rec.epoch = epoch;
    if (decidedByNode !== undefined) rec.decidedByNode = decidedByNode;
    putRecord(key, rec);
    index(key, inst);
  }
  for (const c of snap.checkerConfigs) checkerCfgs.set(c.key, { scope: c.scope, config: revive(c.config) });
  for (const e of snap.whitelist) wl.set(e.id, e);
  for (const [k, v] of Object.entries(snap.switches)) switches.set(k, v);

  /**
   * Cluster mode: health decided here is published first (fenced write, then broadcast): only a
   * write the store accepted under this node's epoch changes memory and is announced, so a store
   * outage freezes health instead of flipping it.
   */
  function publish(key: string, rec: MutableRecord, health: HealthState, change: HealthChange | undefined, lastProbe: ProbeResult | undefined): void {
    const publisher = deps.publisher!;
    const last = lastProbe ?? rec.lastProbe;
    const done = publisher.publish(key, last ? { health, lastProbe: last } : { health }).then((res) => {
      // An operator's decision is replayed on the stored record (cluster-node.ts): memory takes what was stored.
      const h = res.health?.health ?? health;
      if (records.get(key) !== rec || compareStamps({ epoch: rec.epoch ?? 0, version: rec.health.version }, { epoch: res.epoch, version: h.version }) > 0) return;
      const before = rec.health;
      rec.health = h;
      if (lastProbe) rec.lastProbe = lastProbe;
      if (last) rec.published = last;
      rec.epoch = res.epoch;
      rec.decidedByNode = publisher.nodeId;
      if (change && before.healthy !== h.healthy) {
        const c = res.health ? { ...change, from: before.healthy, to: h.healthy, reason: h.reason, version: h.version, at: h.since } : change;
        emit({ type: 'health-changed', key, record: snapshot(rec), change: c, origin: 'local' });
      } else if (before.override !== h.override) emit({ type: 'override-changed', key, record: snapshot(rec) });
    });
    done.catch((err: unknown) => publisher.onRefused(key, err));
    track(done);
  }

  const registry: Registry = {
    register(given) {
      const instance = interned(given);
      const key = flat(instanceKey(instance));
      const existing = records.get(key);
      if (existing) {
        const previous = existing.instance;
        const merged: Instance = { ...instance, registeredAt: previous.registeredAt };
        const stored: Write = !merged.ephemeral ? store.putInstance(key, merged, { health: existing.health }) : !previous.ephemeral ? store.deleteInstance(key) : undefined;
        const record = { ...snapshot(existing), instance: merged };
        write(stored, () => {
          if (merged.ephemeral && !previous.ephemeral) healthWriter.forget(key);
          existing.instance = merged;
          generation++;
          emit({ type: 'instance-updated', key, record: snapshot(existing), previous });
        });
        return { created: false, record };
      }
      const rec = new Record(instance, initialState(now(), instance.initialHealthy ?? deps.initialHealthy ?? true));
      write(instance.ephemeral ? undefined : store.putInstance(key, instance, { health: rec.health }), () => {
        putRecord(key, rec);
        index(key, instance);
        emit({ type: 'instance-registered', key, record: snapshot(rec) });
      });
      return { created: true, record: snapshot(rec) };
    },
    deregister(id, cause) {
      const key = instanceKey(id);
      const rec = records.get(key);
      if (!rec) return undefined;
      write(rec.instance.ephemeral ? undefined : store.deleteInstance(key), () => {
        if (records.get(key) !== rec) return;
        if (!rec.instance.ephemeral) healthWriter.forget(key);
        dropRecord(key, rec);
        unindex(key, rec.instance);
        emit(cause ? { type: 'instance-deregistered', key, instance: rec.instance, cause } : { type: 'instance-deregistered', key, instance: rec.instance });
      });
      return rec.instance;
    },
    get(key) {
      const r = records.get(key);
      return r && snapshot(r);
    },
    peek: (key) => records.get(key) as LiveRecord | undefined,
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
      if (deps.publisher && !rec.instance.ephemeral) {
        publish(key, rec, health, change, lastProbe);
        return;
      }
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
      // Cluster mode: a database role other than the one last published goes out like a flip
      // (a new version), so every node answers "which is the primary" alike. So does a change of the
      // streak that counts towards the next flip (failures while healthy, successes while not):
      // a new owner then continues the rise/fall count instead of restarting it, at the cost of at
      // most rise/fall − 1 writes per flip plus one when a streak breaks; steady probes write nothing.
      const role = roleFact(lastProbe);
      const pending = (h: HealthState) => (h.healthy ? h.failStreak : h.okStreak);
      const roleMoved = role !== undefined && role !== (rec.published && roleFact(rec.published));
      if (deps.publisher && !rec.instance.ephemeral && (roleMoved || pending(health) !== pending(rec.health))) {
        publish(key, rec, { ...health, version: health.version + 1 }, undefined, lastProbe);
        return;
      }
      rec.lastProbe = lastProbe;
      rec.health = health;
    },
    setCheckerConfig(scope, config) {
      const key = scopeKey(scope);
      write(config ? store.putCheckerConfig(key, { scope, config }) : store.deleteCheckerConfig(key), () => {
        if (config) checkerCfgs.set(key, { scope, config });
        else checkerCfgs.delete(key);
        generation++;
        emit({ type: 'checker-config-changed', key, scope, config });
      });
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
      write(store.putWhitelist(entry), () => {
        wl.set(entry.id, entry);
        matcher = undefined;
        emit({ type: 'whitelist-changed', entry, removed: false });
      });
    },
    removeWhitelist(id) {
      const entry = wl.get(id);
      if (!entry) return undefined;
      write(store.deleteWhitelist(id), () => {
        wl.delete(id);
        matcher = undefined;
        emit({ type: 'whitelist-changed', entry, removed: true });
      });
      return entry;
    },
    whitelist: () => [...wl.values()],
    whitelistMatcher(now) {
      if (!matcher || now >= matcher.validUntil) matcher = createMatcher([...wl.values()], now);
      return matcher;
    },
    setSwitch(name, value) {
      write(store.putSwitch(name, value), () => {
        switches.set(name, value);
        emit({ type: 'switch-changed', name, value });
      });
    },
    getSwitch: (name) => switches.get(name),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    announce: emit,
    committed() {
      const issued = writes;
      writes = [];
      return Promise.all(issued).then(() => undefined);
    },
    applyInstance(key, instance) {
      const rec = records.get(key);
      if (instance === null) {
        if (!rec || rec.instance.ephemeral) return;
        dropRecord(key, rec);
        unindex(key, rec.instance);
        emit({ type: 'instance-deregistered', key, instance: rec.instance, origin: 'peer' });
        return;
      }
      const inst = interned(instance.checker ? { ...instance, checker: revive(instance.checker) } : instance);
      if (rec) {
        const previous = rec.instance;
        rec.instance = inst;
        generation++;
        emit({ type: 'instance-updated', key, record: snapshot(rec), previous, origin: 'peer' });
        return;
      }
      const fresh = new Record(inst, initialState(now(), inst.initialHealthy ?? deps.initialHealthy ?? true));
      putRecord(flat(key), fresh);
      index(key, inst);
      emit({ type: 'instance-registered', key, record: snapshot(fresh), origin: 'peer' });
    },
    applyEphemeral(key, entry, cause) {
      const rec = records.get(key);
      if (rec && !rec.instance.ephemeral) return;
      if (entry === null) {
        if (!rec) return;
        dropRecord(key, rec);
        unindex(key, rec.instance);
        emit({ type: 'instance-deregistered', key, instance: rec.instance, origin: 'peer', ...(cause ? { cause } : {}) });
        return;
      }
      const inst = interned(entry.instance);
      if (!rec) {
        const fresh = new Record(inst, entry.health);
        putRecord(flat(key), fresh);
        index(key, inst);
        emit({ type: 'instance-registered', key, record: snapshot(fresh), origin: 'peer' });
        return;
      }
      if (JSON.stringify(rec.instance) !== JSON.stringify(inst)) {
        const previous = rec.instance;
        rec.instance = inst;
        generation++;
        emit({ type: 'instance-updated', key, record: snapshot(rec), previous, origin: 'peer' });
      }
      const before = rec.health;
      rec.health = entry.health;
      if (before.healthy !== entry.health.healthy) {
        const h = entry.health;
        const change: HealthChange = { from: before.healthy, to: h.healthy, reason: h.reason, decidedBy: h.decidedBy, version: h.version, at: h.since };
        emit({ type: 'health-changed', key, record: snapshot(rec), change, origin: 'peer' });
      }
    },
    applyHealth(row) {
      const rec = records.get(row.key);
      if (!rec || rec.instance.ephemeral) return;
      const before = rec.health;
      const h = row.health.health;
      rec.health = h;
      if (row.health.lastProbe) rec.lastProbe = rec.published = row.health.lastProbe;
      rec.epoch = row.epoch;
      if (row.decidedByNode !== null) rec.decidedByNode = row.decidedByNode;
      if (before.healthy !== h.healthy || before.override !== h.override) {
        const change: HealthChange = { from: before.healthy, to: h.healthy, reason: h.reason, decidedBy: h.decidedBy, version: h.version, at: h.since };
        emit({ type: 'health-changed', key: row.key, record: snapshot(rec), change, origin: 'peer' });
      }
    },
    applySettings(settings) {
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      let changed = 0;
      const cfgs = new Map(settings.checkerConfigs.map((c) => [c.key, c]));
      for (const [key, c] of cfgs) {
        // Compared as stored before it is validated again (a config that no longer validates is logged once, not at every poll).
        if (same(checkerCfgs.get(key)?.config, c.config)) continue;
        const config = revive(c.config);
        checkerCfgs.set(key, { scope: c.scope, config });
        changed++;
        generation++;
        emit({ type: 'checker-config-changed', key, scope: c.scope, config, origin: 'peer' });
      }
      for (const [key, held] of checkerCfgs) {
        if (cfgs.has(key)) continue;
        checkerCfgs.delete(key);
        changed++;
        generation++;
        emit({ type: 'checker-config-changed', key, scope: held.scope, config: null, origin: 'peer' });
      }
      const entries = new Map(settings.whitelist.map((e) => [e.id, e]));
      for (const [id, entry] of entries) {
        if (same(wl.get(id), entry)) continue;
        wl.set(id, entry);
        matcher = undefined;
        changed++;
        emit({ type: 'whitelist-changed', entry, removed: false, origin: 'peer' });
      }
      for (const [id, entry] of wl) {
        if (entries.has(id)) continue;
        wl.delete(id);
        matcher = undefined;
        changed++;
        emit({ type: 'whitelist-changed', entry, removed: true, origin: 'peer' });
      }
      for (const name of new Set([...switches.keys(), ...Object.keys(settings.switches)])) {
        const value = settings.switches[name];
        if (same(switches.get(name), value)) continue;
        if (value === undefined) switches.delete(name);
        else switches.set(name, value);
        changed++;
        emit({ type: 'switch-changed', name, value, origin: 'peer' });
      }
      return changed;
    },
    stampOf(key) {
      const rec = records.get(key);
      return rec ? { epoch: rec.epoch ?? 0, version: rec.health.version } : undefined;
    },
    decidedByNode: (key) => records.get(key)?.decidedByNode,
  };
  return registry;
}
