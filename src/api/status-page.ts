/**
 * The status page: plain HTML, CSS and JavaScript from the `status-page/` folder, served by the
 * daemon itself (no CDN: it works offline and behind an air gap), plus SVG badges. The page reads
 * the native API and the event stream with the credential the user gives it, if any.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { PUBLIC, READ } from './access.js';
import type { Registry } from '../registry/registry.js';
import { serviceBadge } from './badge.js';

const FILES = { 'page.js': 'text/javascript; charset=utf-8', 'page.css': 'text/css; charset=utf-8' } as const;

/** `status-page/` at the repo root: two levels up from src/api, three from dist/src/api. */
function folder(): string {
  for (const up of ['../../status-page/', '../../../status-page/']) {
    const path = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(`${path}index.html`)) return path;
  }
  throw new Error('status-page/ folder not found beside the installed vigil');
}

export function registerStatusPage(app: FastifyInstance, deps: { registry: Registry }): void {
  const dir = folder();
  const index = readFileSync(`${dir}index.html`, 'utf8');
  const assets = new Map(Object.entries(FILES).map(([name, type]) => [name, { type, body: readFileSync(`${dir}${name}`, 'utf8') }]));
  const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };

  app.get('/', PUBLIC, async (_req, reply) =>
    reply.headers({ ...headers, 'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'" }).type('text/html; charset=utf-8').send(index));

  app.get<{ Params: { file: string } }>('/status/:file', PUBLIC, async (req, reply) => {
    const asset = assets.get(req.params.file);
    if (!asset) return reply.code(404).send({ code: 'VIGIL_ERR_NOT_FOUND', message: `no asset ${req.params.file}`, field: 'file' });
    return reply.headers(headers).type(asset.type).send(asset.body);
  });

  app.get<{ Params: { file: string }; Querystring: { namespace?: string } }>('/badge/:file', READ, async (req, reply) =>
    reply.headers({ 'cache-control': 'no-cache, max-age=0' }).type('image/svg+xml').send(serviceBadge(deps.registry, req.params.file, req.query.namespace)));
}
