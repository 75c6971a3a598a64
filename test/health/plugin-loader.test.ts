import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineChecker, z, type VigilError } from 'vigil';
import { createCheckerRegistry, type CheckerRegistry } from '../../src/health/checker-registry.js';
import { loadPlugin, loadPlugins, packageEntry } from '../../src/health/plugin-loader.js';

// Fixture plugins are plain ESM importing 'vigil' by name: see test/fixtures/plugins/README.md.
const fixtures = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));

/** Stands in for the built-in tcp checker so these tests do not depend on checkers/tcp.ts. */
const builtinTcp = defineChecker({
  type: 'tcp',
  options: z.strictObject({}),
  check: async () => ({ status: 'ok', reason: 'connected' }),
});

function registry(): CheckerRegistry {
  return createCheckerRegistry([builtinTcp]);
}

async function loadError(reg: CheckerRegistry, spec: string, baseDir = fixtures): Promise<VigilError> {
  try {
    await loadPlugin(reg, spec, baseDir);
  } catch (err) {
    return err as VigilError;
  }
  throw new Error(`loading ${spec} did not fail`);
}

describe('loadPlugin from a file', () => {
  it('resolves a relative path against the given base directory, not the working directory', async () => {
    const reg = registry();
    const loaded = await loadPlugin(reg, './single.mjs', fixtures);
    expect(loaded.map((c) => c.type)).toEqual(['fixture-single']);
    expect(reg.types()).toEqual(['tcp', 'fixture-single']);
    expect(reg.list().find((l) => l.checker.type === 'fixture-single')?.source).toBe('plugin ./single.mjs');
  });

  it('loads an absolute path and a file: URL', async () => {
    const abs = join(fixtures, 'single.mjs');
    const a = registry();
    await loadPlugin(a, abs, '/nonexistent');
    expect(a.has('fixture-single')).toBe(true);
    const b = registry();
    await loadPlugin(b, pathToFileURL(abs).href, '/nonexistent');
    expect(b.has('fixture-single')).toBe(true);
  });

  it('registers a checker that parses its options and runs', async () => {
    const reg = registry();
    const [checker] = await loadPlugin(reg, './single.mjs', fixtures);
    const options = reg.parseOptions('fixture-single', {});
    expect(options).toEqual({ greeting: 'hello' });
    const ac = new AbortController();
    const out = await checker?.check({
      target: { host: '127.0.0.1', port: 1, metadata: {} },
      options,
      signal: ac.signal,
      timeoutMs: 100,
      deadline: performance.now() + 100,
      resources: { use: (_k, create) => create(), evict: async () => {} },
    });
    expect(out).toEqual({ status: 'ok', reason: 'connected', detail: 'hello' });
  });

  it('registers every checker of an array default export', async () => {
    const reg = registry();
    const loaded = await loadPlugin(reg, './many.mjs', fixtures);
    expect(loaded.map((c) => c.type)).toEqual(['fixture-one', 'fixture-two']);
    expect(reg.list().filter((l) => l.source === 'plugin ./many.mjs')).toHaveLength(2);
  });

  it('loads several specs in order with loadPlugins', async () => {
    const reg = registry();
    await loadPlugins(reg, ['./single.mjs', './many.mjs'], fixtures);
    expect(reg.types()).toEqual(['tcp', 'fixture-single', 'fixture-one', 'fixture-two']);
  });
});

/**
 * A checker module for a package under a temporary node_modules. Vitest hands modules under
 * node_modules to plain Node, where neither the 'vigil' alias nor TypeScript sources exist. So it
 * builds its checker without importing vigil: the brand is a registered symbol (Symbol.for),
 * which is also what lets a plugin bundled with its own copy of vigil pass the loader's shape check.
 */
function checkerModule(type: string): string {
  return [
    'export default Object.freeze({',
    `  type: '${type}',`,
    '  options: { safeParse: (v) => ({ success: true, data: v ?? {} }) },',
    "  check: async () => ({ status: 'ok', reason: 'connected' }),",
    "  [Symbol.for('vigil.checker')]: true,",
    '});',
    '',
  ].join('\n');
}

/** Writes `node_modules/<name>` under `root` with a package.json of `manifest` plus `files`. */
async function writePackage(root: string, name: string, manifest: object, files: Record<string, string>): Promise<void> {
  const dir = join(root, 'node_modules', name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), text);
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', ...manifest }));
}

describe('loadPlugin from an npm package name', () => {
  let base: string;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'vigil-plugins-'));
    await writePackage(base, 'vigil-plugin-fixture', { main: 'index.js' }, { 'index.js': checkerModule('fixture-npm') });
    // Only an `import` condition: invisible to require-style resolution.
    await writePackage(
      base,
      'vigil-plugin-esm-only',
      { exports: { '.': { import: './index.js' } } },
      { 'index.js': checkerModule('fixture-esm') },
    );
    await writePackage(
      base,
      '@acme/vigil-plugin-nested',
      { exports: { '.': { node: { import: './lib/main.js' } } } },
      { 'lib/main.js': checkerModule('fixture-scoped') },
    );
    await writePackage(base, 'vigil-plugin-require-only', { exports: { '.': { require: './index.cjs' } } }, {});
    await mkdir(join(base, 'conf', 'deep'), { recursive: true });
    // A linked package (npm link, workspaces) resolves to its real path outside node_modules.
    await symlink(join(fixtures, 'linked-package'), join(base, 'node_modules', 'vigil-plugin-linked'), 'dir');
    await symlink(join(fixtures, 'linked-esm-package'), join(base, 'node_modules', 'vigil-plugin-linked-esm'), 'dir');
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('resolves the package from the base directory', async () => {
    const reg = registry();
    const loaded = await loadPlugin(reg, 'vigil-plugin-fixture', base);
    expect(loaded.map((c) => c.type)).toEqual(['fixture-npm']);
    expect(reg.list().at(-1)?.source).toBe('plugin vigil-plugin-fixture');
  });

  it('loads a linked package that imports vigil by name', async () => {
    const reg = registry();
    await loadPlugin(reg, 'vigil-plugin-linked', base);
    expect(reg.has('fixture-linked')).toBe(true);
  });

  it('loads a package that offers only an import export condition', async () => {
    const reg = registry();
    const loaded = await loadPlugin(reg, 'vigil-plugin-esm-only', base);
    expect(loaded.map((c) => c.type)).toEqual(['fixture-esm']);
    expect(reg.list().at(-1)?.source).toBe('plugin vigil-plugin-esm-only');
  });

  it('loads a scoped package through nested export conditions', async () => {
    const reg = registry();
    await loadPlugin(reg, '@acme/vigil-plugin-nested', base);
    expect(reg.has('fixture-scoped')).toBe(true);
  });

  it('finds an import-only package in the node_modules of a parent of the base directory', async () => {
    const reg = registry();
    await loadPlugin(reg, 'vigil-plugin-esm-only', join(base, 'conf', 'deep'));
    expect(reg.has('fixture-esm')).toBe(true);
  });

  it('loads a linked import-only package that imports vigil by name', async () => {
    const reg = registry();
    await loadPlugin(reg, 'vigil-plugin-linked-esm', base);
    expect(reg.has('fixture-linked-esm')).toBe(true);
  });

  it('fails with VIGIL_ERR_PLUGIN_LOAD naming the package when no export fits an import', async () => {
    const err = await loadError(registry(), 'vigil-plugin-require-only', base);
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_LOAD');
    expect(err.message).toContain('vigil-plugin-require-only');
  });

  it('fails with VIGIL_ERR_PLUGIN_LOAD when the package is not installed', async () => {
    const err = await loadError(registry(), 'vigil-plugin-not-installed', base);
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_LOAD');
    expect(err.message).toContain('vigil-plugin-not-installed');
  });
});

describe('loadPlugin refuses a bad plugin at load time', () => {
  it('fails with VIGIL_ERR_PLUGIN_LOAD naming the spec when the file does not exist', async () => {
    const err = await loadError(registry(), './no-such-plugin.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_LOAD');
    expect(err.field).toBe('plugins');
    expect(err.message).toContain('./no-such-plugin.mjs');
    expect(err.cause).toBeDefined();
  });

  it('fails with VIGIL_ERR_PLUGIN_LOAD when the module throws while importing', async () => {
    const err = await loadError(registry(), './throws-on-import.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_LOAD');
    expect(err.message).toContain('./throws-on-import.mjs');
    expect(err.message).toContain('broken at import');
  });

  it('fails with VIGIL_ERR_PLUGIN_SHAPE naming the plugin when it exports a plain object', async () => {
    const reg = registry();
    const err = await loadError(reg, './plain-object.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_SHAPE');
    expect(err.field).toBe('plugins');
    expect(err.message).toContain('./plain-object.mjs');
    expect(reg.has('fixture-plain')).toBe(false);
  });

  it('fails with VIGIL_ERR_PLUGIN_SHAPE when the checker is not the default export', async () => {
    const err = await loadError(registry(), './named-only.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_SHAPE');
    expect(err.message).toContain('./named-only.mjs');
  });

  it('fails with VIGIL_ERR_PLUGIN_SHAPE when the default export is an empty array', async () => {
    const err = await loadError(registry(), './empty-array.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_SHAPE');
    expect(err.message).toContain('./empty-array.mjs');
  });

  it('fails with VIGIL_ERR_PLUGIN_DUPLICATE_TYPE naming the plugin when it claims a built-in type', async () => {
    const reg = registry();
    const err = await loadError(reg, './builtin-tcp.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_DUPLICATE_TYPE');
    expect(err.message).toContain('./builtin-tcp.mjs');
    expect(err.message).toContain('builtin');
    expect(reg.get('tcp')).toBe(builtinTcp);
  });

  it('registers none of an array when one element is not a checker', async () => {
    const reg = registry();
    const err = await loadError(reg, './good-then-bad.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_SHAPE');
    expect(err.message).toContain('./good-then-bad.mjs');
    expect(reg.types()).toEqual(['tcp']);
  });

  it('registers none of an array when one element claims a loaded type', async () => {
    const reg = registry();
    const err = await loadError(reg, './good-then-builtin.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_DUPLICATE_TYPE');
    expect(reg.types()).toEqual(['tcp']);
    expect(reg.get('tcp')).toBe(builtinTcp);
    // Nothing half-loaded is left behind to collide with a corrected retry.
    await loadPlugin(reg, './single.mjs', fixtures);
    expect(reg.types()).toEqual(['tcp', 'fixture-single']);
  });

  it('fails with VIGIL_ERR_PLUGIN_DUPLICATE_TYPE when an array declares a type twice', async () => {
    const reg = registry();
    const err = await loadError(reg, './duplicate-in-array.mjs');
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_DUPLICATE_TYPE');
    expect(err.message).toContain('./duplicate-in-array.mjs');
    expect(err.message).toContain('fixture-twice');
    expect(reg.types()).toEqual(['tcp']);
  });

  it('fails with VIGIL_ERR_PLUGIN_DUPLICATE_TYPE when two plugins declare the same type', async () => {
    const reg = registry();
    await loadPlugin(reg, './single.mjs', fixtures);
    const err = await loadError(reg, join(fixtures, 'single.mjs'));
    expect(err.code).toBe('VIGIL_ERR_PLUGIN_DUPLICATE_TYPE');
    expect(err.message).toContain('plugin ./single.mjs');
  });
});

describe('packageEntry: the file an ESM import of a package name loads', () => {
  it.each([
    ['exports as a string', { exports: './a.js' }, './a.js'],
    ['"." as a string', { exports: { '.': './a.js' } }, './a.js'],
    ['conditions at the root', { exports: { require: './a.cjs', import: './a.js' } }, './a.js'],
    ['an import condition under "."', { exports: { '.': { require: './a.cjs', import: './a.js' } } }, './a.js'],
    ['a node condition', { exports: { '.': { node: './n.js', require: './a.cjs' } } }, './n.js'],
    ['a default condition', { exports: { '.': { types: './a.d.ts', default: './d.js' } } }, './d.js'],
    ['nested conditions', { exports: { '.': { node: { import: './n.js' }, default: './d.js' } } }, './n.js'],
    ['a nested miss, falling through', { exports: { '.': { node: { require: './n.cjs' }, default: './d.js' } } }, './d.js'],
    ['conditions in key order, as Node', { exports: { '.': { default: './d.js', import: './a.js' } } }, './d.js'],
    ['main without exports', { main: 'lib/x.js' }, 'lib/x.js'],
    ['index.js without exports or main', {}, 'index.js'],
    ['exports over main', { exports: './a.js', main: 'lib/x.js' }, './a.js'],
  ])('reads %s', (_name, manifest, entry) => {
    expect(packageEntry(manifest)).toBe(entry);
  });

  it.each([
    ['only a require condition', { exports: { '.': { require: './a.cjs' } } }],
    ['only subpaths', { exports: { './sub': './s.js' } }],
    ['a null target', { exports: { '.': null } }],
  ])('finds nothing for %s', (_name, manifest) => {
    expect(packageEntry(manifest)).toBeUndefined();
  });
});
