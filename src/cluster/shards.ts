/**
 * Work is split into a fixed number of shards by a stable hash of the instance key, so that
 * ownership (a lease per shard) is a few hundred rows however many instances there are, and every
 * node, every version and every platform maps a key to the same shard.
 *
 * SHA-256 rather than a hand-rolled hash: it is in node:crypto, specified byte for byte, and its
 * output is uniform, which the evenness of the split depends on.
 */
import { createHash } from 'node:crypto';

/**
 * Fixed for the life of a cluster's database: the lease rows are created by a migration, and
 * changing the count would move almost every key. 256 keeps the lease table small while leaving
 * enough shards per node (about 85 with three nodes) for an even split.
 */
export const SHARD_COUNT = 256;

export type Shard = number;

/** The first 4 bytes of SHA-256 of the UTF-8 key, as an unsigned 32-bit integer. */
export function hash32(text: string): number {
  return createHash('sha256').update(text, 'utf8').digest().readUInt32BE(0);
}

/** The shard of an instance key (`instanceKey()` in registry/model.ts). */
export function shardOf(key: string, shards: number = SHARD_COUNT): Shard {
  return hash32(key) % shards;
}

export function allShards(shards: number = SHARD_COUNT): Shard[] {
  return Array.from({ length: shards }, (_, i) => i);
}
