/** `GET /metrics` in the Prometheus text format, and the hook that counts API requests by route. */
import type { FastifyInstance } from 'fastify';
import { PUBLIC } from './access.js';
import type { Metrics } from '../observe/metrics.js';

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  // The route pattern, not the URL, so a scan of random paths cannot grow the series without bound.
  app.addHook('onResponse', async (req, reply) => {
    metrics.apiRequest(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode);
  });
  app.get('/metrics', PUBLIC, async (_req, reply) => {
    const text = await metrics.register.metrics();
    return reply.type(metrics.register.contentType).send(text);
  });
}
