/**
 * House rule 1: one probe type per file in checkers/, declared once. The list in checkers/index.ts
 * must name exactly the files of the folder, and each file's checker type must equal its name.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isChecker } from 'vigil';
import { builtinCheckers } from '../../checkers/index.js';

const dir = fileURLToPath(new URL('../../checkers/', import.meta.url));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'index.ts')
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();

describe('built-in checker list', () => {
  it('names exactly the checker files in checkers/', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(builtinCheckers.map((c) => c.type).sort()).toEqual(files);
  });

  it('declares each type once', () => {
    const types = builtinCheckers.map((c) => c.type);
    expect(new Set(types).size).toBe(types.length);
  });

  it.each(files)('checkers/%s.ts default-exports a checker of type "%s" that is the listed one', async (name) => {
    const mod = (await import(`../../checkers/${name}.ts`)) as { default: unknown };
    expect(isChecker(mod.default)).toBe(true);
    expect((mod.default as { type: string }).type).toBe(name);
    expect(builtinCheckers).toContain(mod.default);
  });
});
