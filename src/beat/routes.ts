/**
 * Native routes of the beat module: `GET /v1/beat/status` (expiry, stalls, self-preservation) and
 * `PUT /v1/beat`, a beat for an ephemeral instance registered through the native API (Nacos
 * clients beat through `/nacos/v1/ns/instance/beat`).
 */
import { READ, WRITE } from '../api/access.js';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import { instanceKey } from '../registry/model.js';
import { instanceIdShape, parseOrThrow } from '../registry/validate.js';
import type { BeatModule } from './beat-module.js';

const beatBody = z.strictObject(instanceIdShape);

export function registerBeatRoutes(app: FastifyInstance, beats: BeatModule): void {
  app.get('/v1/beat/status', READ, async () => beats.status());

  app.put('/v1/beat', WRITE, async (req) => {
    const id = parseOrThrow(beatBody, req.body ?? {});
    const key = instanceKey(id);
    if (!beats.beat(key)) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no ephemeral instance ${key}; register it first`, 'instance');
    return { clientBeatIntervalMs: beats.intervalFor(key) };
  });
}
