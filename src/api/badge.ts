/** SVG badges per service (`/badge/{service}.svg`): "<service> | 3/3 up", green, amber or red. */
import { VigilError } from '../errors.js';
import { DEFAULT_NAMESPACE, splitServiceName } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import { nameSchema, parseOrThrow } from '../registry/validate.js';

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** Verdana 11px averages ~6.5 px a character; close enough for a badge's box. */
const width = (s: string): number => Math.round(s.length * 6.5) + 12;

export function badgeSvg(label: string, value: string, color: string): string {
  const [l, v] = [width(label), width(value)];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${l + v}" height="20" role="img" aria-label="${escape(`${label}: ${value}`)}">` +
    `<title>${escape(`${label}: ${value}`)}</title>` +
    `<rect width="${l}" height="20" fill="#555"/><rect x="${l}" width="${v}" height="20" fill="${color}"/>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">` +
    `<text x="${l / 2}" y="14">${escape(label)}</text><text x="${l + v / 2}" y="14">${escape(value)}</text></g></svg>`;
}

/** The badge of one service: `file` is `name.svg` or `group@@name.svg`. */
export function serviceBadge(registry: Registry, file: string, namespace: string = DEFAULT_NAMESPACE): string {
  if (!file.endsWith('.svg')) throw new VigilError('VIGIL_ERR_NOT_FOUND', 'badges are /badge/{service}.svg', 'service');
  const { group, service } = splitServiceName(file.slice(0, -4));
  const id = { namespace: parseOrThrow(nameSchema, namespace, 'namespace'), group: parseOrThrow(nameSchema, group, 'group'), service: parseOrThrow(nameSchema, service, 'service') };
  const recs = registry.serviceInstances(id);
  const up = recs.filter((r) => r.health.healthy).length;
  const color = recs.length === 0 ? '#9f9f9f' : up === recs.length ? '#2e7d32' : up === 0 ? '#c62828' : '#ef6c00';
  return badgeSvg(service, recs.length === 0 ? 'no instances' : `${up}/${recs.length} up`, color);
}
