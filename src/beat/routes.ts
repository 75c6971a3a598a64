/**
 * Native routes of the beat module: `GET /v1/beat/status` (expiry, stalls, self-preservation) and
 * `PUT /v1/beat`, a beat for an ephemeral instance registered through the native API (Nacos
 * clients beat through `/nacos/v1/ns/instance/beat`).
 */
import { READ, WRITE } from '../api/access.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import { instanceKey } from '../registry/model.js';
import { instanceIdShape, parseOrThrow } from '../registry/validate.js';
import type { BeatModule } from './beat-module.js';

const beatBody = z.strictObject(instanceIdShape);

/** Cluster mode: sends the beat to the node responsible for `key` and relays its answer (cluster/ephemeral-forward.ts). */
export type BeatForward = (key: string, req: FastifyRequest, reply: FastifyReply) => Promise<boolean>;

export function registerBeatRoutes(app: FastifyInstance, beats: BeatModule, forward?: BeatForward): void {
  app.get('/v1/beat/status', READ, async () => beats.status());

  app.put('/v1/beat', WRITE, async (req, reply) => {
    const id = parseOrThrow(beatBody, req.body ?? {});
    const key = instanceKey(id);
    if (forward && (await forward(key, req, reply))) return reply;
    if (!beats.beat(key)) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no ephemeral instance ${key}; register it first`, 'instance');
    return { clientBeatIntervalMs: beats.intervalFor(key) };
  });
}
