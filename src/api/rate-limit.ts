/**
 * A per-client limit on reads, so a few clients hammering listings cannot starve probes and beats
 * of the event loop. Writes, beats, /healthz and /metrics are never limited: beats keep ephemeral
 * instances alive and health endpoints must answer when things are worst.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError } from '../errors.js';

const UNLIMITED = new Set(['/healthz', '/metrics']);

export const isLimited = (req: FastifyRequest): boolean => req.method === 'GET' && !UNLIMITED.has(req.routeOptions.url ?? '');

/** Registers the limit (before any route, so every route gets it); `perSecond` 0 turns it off. */
export async function registerReadRateLimit(app: FastifyInstance, perSecond: number): Promise<void> {
  if (perSecond === 0) return;
  await app.register(rateLimit, {
    global: true,
    max: perSecond,
    timeWindow: 1000,
    allowList: (req) => !isLimited(req),
    errorResponseBuilder: (_req, ctx) =>
      new VigilError('VIGIL_ERR_RATE_LIMITED', `more than ${ctx.max} reads a second from this client; retry in ${ctx.after}`, 'client'),
  });
}
