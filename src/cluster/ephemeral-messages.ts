/**
 * The replication message of ephemeral instances between nodes, validated at the boundary like any
 * request (a peer is trusted to be a member, not to be bug-free):
 *
 *   POST /v1/cluster/ephemeral  { holding, ops: [ { key, epoch, seq, entry: { instance, health } | null, expired? } ] }
 *   GET  /v1/cluster/ephemeral  → { seq, shards, ops: [...] }   (what the sender is responsible for)
 *
 * `entry` null is a deregistration (`expired`: by the owner's beat module). `holding`: the sender's
 * self-preservation holds deletions (cluster-wide self-preservation).
 */
import { z } from 'zod';
import type { HealthState } from '../health/state-machine.js';
import type { Instance } from '../registry/model.js';
import { ipSchema, nameSchema, parseOrThrow, portSchema, weightSchema } from '../registry/validate.js';
import { healthStateSchema } from './peer-changes.js';

export const EPHEMERAL_PATH = '/v1/cluster/ephemeral';

/** More than a batch window of changes would be a sender bug; a snapshot is paged by nothing, so it is larger. */
export const MAX_OPS = 200_000;

const count = z.number().int().min(0);

const instance = z.strictObject({
  namespace: nameSchema,
  group: nameSchema,
  service: nameSchema,
  cluster: nameSchema,
  ip: ipSchema,
  port: portSchema,
  weight: weightSchema,
  enabled: z.boolean(),
  ephemeral: z.literal(true),
  metadata: z.record(z.string().max(1024), z.string().max(65536)),
  initialHealthy: z.boolean().optional(),
  registeredAt: count,
});

const op = z.strictObject({
  key: z.string().min(1).max(512),
  epoch: count,
  seq: count,
  entry: z.strictObject({ instance, health: healthStateSchema }).nullable(),
  expired: z.boolean().optional(),
});

const batch = z.strictObject({ holding: z.boolean(), ops: z.array(op).max(MAX_OPS) });
const snapshot = z.strictObject({ seq: count, shards: z.array(z.number().int().min(0).max(65535)).max(65536), ops: z.array(op).max(MAX_OPS) });

export interface EphemeralOp {
  readonly key: string;
  readonly epoch: number;
  readonly seq: number;
  readonly entry: { readonly instance: Instance; readonly health: HealthState } | null;
  readonly expired?: boolean;
}

export interface EphemeralBatch {
  readonly holding: boolean;
  readonly ops: readonly EphemeralOp[];
}

export interface EphemeralSnapshot {
  /** The sender's sequence when it took the snapshot: replicas stamped later are newer than it. */
  readonly seq: number;
  /** The shards the sender is responsible for; `ops` holds every ephemeral instance and tombstone it has in them. */
  readonly shards: readonly number[];
  readonly ops: readonly EphemeralOp[];
}

/** VIGIL_ERR_REQUEST_INVALID naming the field (e.g. `ops.3.entry.instance.port`). */
export function parseEphemeralBatch(body: unknown): EphemeralBatch {
  return parseOrThrow(batch, body) as EphemeralBatch;
}

export function parseEphemeralSnapshot(body: unknown): EphemeralSnapshot {
  return parseOrThrow(snapshot, body) as EphemeralSnapshot;
}
