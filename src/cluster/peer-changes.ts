/**
 * The broadcast message between nodes: `POST /v1/cluster/changes` with
 * `{ "changes": [ { key, epoch, decidedByNode, health: { health, lastProbe? } } ] }`, signed
 * (peer-auth.ts). Validated like any request at the boundary: a peer is trusted to be a member,
 * not to be bug-free, and a malformed copy must not reach the registry.
 */
import { z } from 'zod';
import { parseOrThrow } from '../registry/validate.js';
import type { HealthRow } from '../registry/mysql-store.js';

/** More than a batch window of changes would be a sender bug; refuse rather than apply half. */
export const MAX_CHANGES_PER_REQUEST = 5000;

const count = z.number().int().min(0);

export const healthStateSchema = z.strictObject({
  healthy: z.boolean(),
  since: count,
  version: z.number().int().min(1),
  okStreak: count,
  failStreak: count,
  reason: z.string().max(200),
  decidedBy: z.enum(['initial', 'checker', 'operator', 'beat', 'peer']),
  override: z
    .strictObject({ healthy: z.boolean(), until: count.optional(), by: z.string().max(100).optional(), reason: z.string().max(500).optional() })
    .optional(),
});

const probeResult = z.object({
  type: z.string().max(64),
  status: z.enum(['ok', 'fail', 'fail-now']),
  reason: z.string().max(200),
  latencyMs: z.number().min(0),
  startedAt: count,
  detail: z.string().max(2000).optional(),
  facts: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

const change = z.strictObject({
  key: z.string().min(1).max(512),
  epoch: count,
  decidedByNode: z.string().max(64).nullable(),
  health: z.strictObject({ health: healthStateSchema, lastProbe: probeResult.optional() }),
});

const message = z.strictObject({ changes: z.array(change).max(MAX_CHANGES_PER_REQUEST) });

export type PeerChange = Omit<HealthRow, 'updatedAt'>;

/** Parses a broadcast body; VIGIL_ERR_REQUEST_INVALID naming the field (e.g. `changes.3.epoch`). */
export function parsePeerChanges(body: unknown): PeerChange[] {
  return parseOrThrow(message, body).changes as PeerChange[];
}
