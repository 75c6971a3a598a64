/**
 * The sending end of broadcasts: every health change this node decided goes to every live peer.
 * Each peer has one lane of up to `REQUESTS_IN_FLIGHT` requests; a change leaves as soon as the
 * store accepted it while the lane has room, and what is published while the lane is full waits
 * and goes out merged in the next request (only the newest copy of each key). So a wave of flips is
 * batched by the lane's own round trips instead of by a timer, and a slow or stopped peer holds
 * back only its own lane. (With one request at a time, the 3 December runs showed changes waiting
 * p50 116–513 ms for the request ahead of them, which a stalled peer answered late, against 26–35 ms
 * p50 for a request: several in flight keep a late answer from holding the next change.) Peers
 * apply only newer stamps, so requests overtaking each other change nothing.
 * `batchMs` > 0 restores a fixed window (one request per peer per window), for whoever prefers
 * fewer requests to lower latency.
 *
 * A failed or slow peer costs one request timeout and nothing else: nothing is retried, because the
 * peer's trailing-window poll (change-poller.ts) will read the same change from the store within
 * one poll period.
 */
import { Agent, request } from 'undici';
import { PEER_CHANGES_PATH } from './peer-route.js';
import { signPeerRequest } from './peer-auth.js';
import type { PeerChange } from './peer-changes.js';
import type { StageTimings } from './stage-timings.js';
import { isNewer } from './stamp.js';

export interface Peer {
  readonly nodeId: string;
  /** The peer's advertised base URL, e.g. http://127.0.0.1:8849. */
  readonly url: string;
}

export interface BroadcasterOptions {
  readonly nodeId: string;
  readonly secret: string;
  /** The live admitted members other than this node, as of the latest round. */
  readonly peers: () => readonly Peer[];
  /** 0: send as soon as the peer's lane is free; > 0: collect changes for this long first. */
  readonly batchMs: number;
  readonly timeoutMs: number;
  /** Told after each batch went out: how many changes, to how many peers, how many of them failed. */
  readonly onFlush?: (changes: number, peers: number, failed: number) => void;
  /** Where the stages `committedToSent` and `sentToAcked` are recorded. */
  readonly timings?: StageTimings;
  /** Monotonic ms (default performance.now). */
  readonly clock?: () => number;
}

export interface FlushResult {
  readonly changes: number;
  readonly failed: ReadonlyArray<{ nodeId: string; reason: string }>;
}

/** Plain counters (metrics and tests read them). */
export interface BroadcastStats {
  /** Batches handed to the lanes (each goes to every peer, alone or merged with others). */
  batches: number;
  changes: number;
  /** Peer deliveries of a batch that failed or were refused; the poll repairs what they carried. */
  failed: number;
}

export interface Broadcaster {
  publish(change: PeerChange): void;
  readonly stats: Readonly<BroadcastStats>;
  /** Sends what is pending now (the lanes do this by themselves); resolves when every peer answered or failed. */
  flush(): Promise<FlushResult>;
  close(): Promise<void>;
}

/**
 * Changes per request. The first changes of a mass flip land (and are parsed and applied by the
 * peer) before the rest are even sent, instead of all waiting for one large body.
 */
export const CHANGES_PER_REQUEST = 500;

/** Requests to one peer at once. */
export const REQUESTS_IN_FLIGHT = 4;

interface Entry {
  readonly change: PeerChange;
  /** When it was published (clock): the store had accepted it. */
  readonly at: number;
}

const stampOf = (c: PeerChange) => ({ epoch: c.epoch, version: c.health.health.version });

/** Keeps the newest copy of each key. */
function merge(into: Map<string, Entry>, entry: Entry): void {
  const held = into.get(entry.change.key);
  if (held && !isNewer(stampOf(entry.change), stampOf(held.change))) return;
  into.set(entry.change.key, entry);
}

export function createBroadcaster(opts: BroadcasterOptions): Broadcaster {
  const clock = opts.clock ?? (() => performance.now());
  const agent = new Agent({ connect: { timeout: opts.timeoutMs }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  let pending = new Map<string, Entry>();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const stats: BroadcastStats = { batches: 0, changes: 0, failed: 0 };

  async function send(peer: Peer, entries: readonly Entry[]): Promise<string | undefined> {
    const sentAt = clock();
    for (const e of entries) opts.timings?.record('committedToSent', sentAt - e.at);
    const body = JSON.stringify({ changes: entries.map((e) => e.change) });
    try {
      const headers = { 'content-type': 'application/json', ...signPeerRequest(opts.secret, opts.nodeId, { method: 'POST', path: PEER_CHANGES_PATH, body }) };
      const res = await request(new URL(PEER_CHANGES_PATH, peer.url), { method: 'POST', headers, body, dispatcher: agent });
      await res.body.dump();
      opts.timings?.record('sentToAcked', clock() - sentAt);
      return res.statusCode === 200 ? undefined : `status ${res.statusCode}`;
    } catch (err) {
      return (err as { code?: string }).code ?? (err as Error).message;
    }
  }

  /** One peer's lane: up to REQUESTS_IN_FLIGHT requests; what arrives while it is full is merged and sent next. */
  function createLane(peer: Peer) {
    let backlog = new Map<string, Entry>();
    let waiters: Array<(reason: string | undefined) => void> = [];
    let inFlight = 0;
    async function carry(entries: readonly Entry[], told: ReadonlyArray<(reason: string | undefined) => void>): Promise<void> {
      let reason: string | undefined;
      for (let i = 0; i < entries.length; i += CHANGES_PER_REQUEST) reason ??= await send(peer, entries.slice(i, i + CHANGES_PER_REQUEST));
      for (const tell of told) tell(reason);
      inFlight--;
      pump();
    }
    function pump(): void {
      while (inFlight < REQUESTS_IN_FLIGHT && backlog.size > 0) {
        const entries = [...backlog.values()];
        const told = waiters;
        backlog = new Map();
        waiters = [];
        inFlight++;
        void carry(entries, told);
      }
    }
    return {
      /** Resolves with the failure of the request that carried these entries (undefined: delivered). */
      enqueue(entries: readonly Entry[]): Promise<string | undefined> {
        for (const e of entries) merge(backlog, e);
        const told = new Promise<string | undefined>((resolve) => waiters.push(resolve));
        pump();
        return told;
      },
    };
  }
  const lanes = new Map<string, ReturnType<typeof createLane>>();
  const laneOf = (p: Peer) => {
    const id = `${p.nodeId}\n${p.url}`;
    let lane = lanes.get(id);
    if (!lane) lanes.set(id, (lane = createLane(p)));
    return lane;
  };

  async function flush(): Promise<FlushResult> {
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = immediate = undefined;
    const batch = [...pending.values()];
    pending = new Map();
    if (batch.length === 0) return { changes: 0, failed: [] };
    const peers = opts.peers().filter((p) => p.nodeId !== opts.nodeId);
    const reasons = await Promise.all(peers.map((p) => laneOf(p).enqueue(batch)));
    const failed = peers.flatMap((p, i) => (reasons[i] === undefined ? [] : [{ nodeId: p.nodeId, reason: reasons[i]! }]));
    stats.batches++;
    stats.changes += batch.length;
    stats.failed += failed.length;
    opts.onFlush?.(batch.length, peers.length, failed.length);
    return { changes: batch.length, failed };
  }

  return {
    publish(change) {
      merge(pending, { change, at: clock() });
      // One macrotask later at the soonest, so the writes of one committed batch share a request.
      if (opts.batchMs > 0) timer ??= setTimeout(() => void flush(), opts.batchMs).unref();
      else immediate ??= setImmediate(() => void flush());
    },
    stats,
    flush,
    async close() {
      await flush();
      await agent.close();
    },
  };
}
