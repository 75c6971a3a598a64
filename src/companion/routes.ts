/** `GET /v1/companion`: what the companion sees of its Nacos server, its writes and its conditions. */
import type { FastifyInstance } from 'fastify';
import { READ } from '../api/access.js';
import type { Companion } from './companion.js';

export function registerCompanionRoutes(app: FastifyInstance, companion: Companion): void {
  app.get('/v1/companion', READ, async () => companion.status());
}
