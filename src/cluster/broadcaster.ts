/**
 * The sending end of broadcasts: every health change this node decided goes to every live peer,
 * batched. A change waits at most `batchMs` (one request per peer per window under load instead of
 * one per change); within a window only the newest copy of each key is sent. A failed or slow peer
 * costs one request timeout and nothing else: nothing is retried, because the peer's trailing-window
 * poll (change-poller.ts) will read the same change from the store within one poll period.
 */
import { Agent, request } from 'undici';
import { PEER_CHANGES_PATH } from './peer-route.js';
import { signPeerRequest } from './peer-auth.js';
import { MAX_CHANGES_PER_REQUEST, type PeerChange } from './peer-changes.js';
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
  readonly batchMs: number;
  readonly timeoutMs: number;
  /** Told after each batch went out: how many changes, to how many peers, how many of them failed. */
  readonly onFlush?: (changes: number, peers: number, failed: number) => void;
}

export interface FlushResult {
  readonly changes: number;
  readonly failed: ReadonlyArray<{ nodeId: string; reason: string }>;
}

/** Plain counters (metrics and tests read them). */
export interface BroadcastStats {
  /** Batches sent (one request to each peer). */
  batches: number;
  changes: number;
  /** Peer requests that failed or were refused; the poll repairs what they carried. */
  failed: number;
}

export interface Broadcaster {
  publish(change: PeerChange): void;
  readonly stats: Readonly<BroadcastStats>;
  /** Sends what is pending now (the timer does this by itself); resolves when every peer answered or failed. */
  flush(): Promise<FlushResult>;
  close(): Promise<void>;
}

const stampOf = (c: PeerChange) => ({ epoch: c.epoch, version: c.health.health.version });

export function createBroadcaster(opts: BroadcasterOptions): Broadcaster {
  const agent = new Agent({ connect: { timeout: opts.timeoutMs }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  let pending = new Map<string, PeerChange>();
  let timer: NodeJS.Timeout | undefined;
  const stats: BroadcastStats = { batches: 0, changes: 0, failed: 0 };

  async function send(peer: Peer, body: string): Promise<string | undefined> {
    try {
      const headers = { 'content-type': 'application/json', ...signPeerRequest(opts.secret, opts.nodeId, { method: 'POST', path: PEER_CHANGES_PATH, body }) };
      const res = await request(new URL(PEER_CHANGES_PATH, peer.url), { method: 'POST', headers, body, dispatcher: agent });
      await res.body.dump();
      return res.statusCode === 200 ? undefined : `status ${res.statusCode}`;
    } catch (err) {
      return (err as { code?: string }).code ?? (err as Error).message;
    }
  }

  async function flush(): Promise<FlushResult> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = [...pending.values()];
    pending = new Map();
    if (batch.length === 0) return { changes: 0, failed: [] };
    // A mass flip can hold more than one request may carry: several requests then, never a refused one.
    const bodies: string[] = [];
    for (let i = 0; i < batch.length; i += MAX_CHANGES_PER_REQUEST) bodies.push(JSON.stringify({ changes: batch.slice(i, i + MAX_CHANGES_PER_REQUEST) }));
    const peers = opts.peers().filter((p) => p.nodeId !== opts.nodeId);
    const reasons = await Promise.all(peers.map(async (p) => {
      let reason: string | undefined;
      for (const body of bodies) reason ??= await send(p, body);
      return reason;
    }));
    const failed = peers.flatMap((p, i) => (reasons[i] === undefined ? [] : [{ nodeId: p.nodeId, reason: reasons[i]! }]));
    stats.batches++;
    stats.changes += batch.length;
    stats.failed += failed.length;
    opts.onFlush?.(batch.length, peers.length, failed.length);
    return { changes: batch.length, failed };
  }

  return {
    publish(change) {
      const held = pending.get(change.key);
      if (held && !isNewer(stampOf(change), stampOf(held))) return;
      pending.set(change.key, change);
      timer ??= setTimeout(() => void flush(), opts.batchMs).unref();
    },
    stats,
    flush,
    async close() {
      await flush();
      await agent.close();
    },
  };
}
