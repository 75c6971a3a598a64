/**
 * Where a health change's time goes between the deciding probe and the peers: the last samples of
 * each stage of the pipeline, summarised on demand (`GET /v1/cluster/members` → `self.stages`).
 * An operator asking "why did node B show it 400 ms after node A" reads which stage holds the tail;
 * the cluster benchmark prints the same figures.
 *
 * Stages (ms):
 * - `decidedToQueued`: end of the deciding probe → the fenced write was queued (owner; state machine, scheduler);
 * - `queuedToCommitted`: fenced write queued → the store accepted it (owner; queue and statement);
 * - `committedToSent`: accepted → the broadcast request to a peer was started (owner; batching);
 * - `sentToAcked`: request started → the peer answered (network, the peer's parse and apply);
 * - `decidedToReceived`: end of the deciding probe → a peer received the broadcast (wall clocks of
 *   two nodes: meaningful as far as their clocks agree, exact on one machine);
 * - `receivedToApplied`: a peer's handling of one broadcast request (signature, parse, apply, events).
 */

export const STAGES = ['decidedToQueued', 'queuedToCommitted', 'committedToSent', 'sentToAcked', 'decidedToReceived', 'receivedToApplied'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageSummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface StageTimings {
  record(stage: Stage, ms: number): void;
  /** p50 / p99 / max over the last samples of each stage that has any. */
  summary(): Partial<Record<Stage, StageSummary>>;
}

/** Keeps the last `size` samples per stage (a ring): recent enough to show a wave, bounded in memory. */
export function createStageTimings(size = 4096): StageTimings {
  const rings = new Map<Stage, { values: Float64Array; n: number }>();
  return {
    record(stage, ms) {
      let ring = rings.get(stage);
      if (!ring) rings.set(stage, (ring = { values: new Float64Array(size), n: 0 }));
      ring.values[ring.n++ % size] = Math.max(0, ms);
    },
    summary() {
      const out: Partial<Record<Stage, StageSummary>> = {};
      for (const stage of STAGES) {
        const ring = rings.get(stage);
        if (!ring) continue;
        const xs = ring.values.slice(0, Math.min(ring.n, size)).sort();
        const at = (p: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!);
        out[stage] = { count: ring.n, p50: at(0.5), p99: at(0.99), max: Math.round(xs[xs.length - 1]!) };
      }
      return out;
    },
  };
}
