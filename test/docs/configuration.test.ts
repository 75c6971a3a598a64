import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { isVigilError } from '../../src/errors.js';
import { tempDir } from '../helpers/daemon.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  default?: unknown;
}

/** Options documented as one row although they are objects (a checker config is one value). */
const WHOLE = new Set(['checks.checker']);

/** Every configurable key, dotted; records (free-form maps) count as one key. */
function keys(schema: JsonSchema, prefix = ''): string[] {
  if (schema.type !== 'object' || !schema.properties || WHOLE.has(prefix)) return [prefix];
  return Object.entries(schema.properties).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k));
}

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
const documentedRows = new Map(
  [...doc.matchAll(/^\| `([a-zA-Z.]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]),
);

describe('configuration', () => {
  const schemaKeys = keys(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema);

  it('documents every option in docs/configuration.md, and nothing else', () => {
    expect([...documentedRows.keys()].sort()).toEqual([...schemaKeys].sort());
  });

  it('documents the default each option really has', () => {
    const defaults = parseConfig({}) as unknown as Record<string, Record<string, unknown>>;
    for (const key of schemaKeys) {
      const value = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], defaults);
      const shown = value === undefined ? '—' : `\`${JSON.stringify(value)}\``;
      expect(documentedRows.get(key), key).toBe(shown);
    }
  });

  it('rejects an unknown key at start-up, naming it', () => {
    const dir = tempDir();
    const file = join(dir, 'vigil.yaml');
    writeFileSync(file, 'checks:\n  intervalMs: 1000\n  timeoutMs: 500\n  retries: 3\n');
    try {
      loadConfig({ config: file });
      expect.unreachable();
    } catch (err) {
      expect(isVigilError(err, 'VIGIL_ERR_CONFIG_UNKNOWN_KEY')).toBe(true);
      expect((err as { field: string }).field).toBe('checks.retries');
    }
  });

  it('rejects a timeout that is not shorter than the interval', () => {
    expect(() => parseConfig({ checks: { intervalMs: 1000, timeoutMs: 1000 } })).toThrow(/shorter/);
  });

  it('lets flags override the file and resolves the data folder against the file', () => {
    const dir = tempDir();
    const file = join(dir, 'vigil.yaml');
    writeFileSync(file, 'api:\n  port: 9000\nstore:\n  dataDir: data\n');
    const { config } = loadConfig({ config: file, port: 9100 });
    expect(config.api.port).toBe(9100);
    expect(config.store.dataDir).toBe(join(dir, 'data'));
  });
});
