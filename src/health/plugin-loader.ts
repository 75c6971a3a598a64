/**
 * Loads external checker plugins at start-up from a file path or an npm package name. A plugin
 * module default-exports one checker (or an array of them) made with defineChecker(). Shapes and
 * duplicate types are checked here, at load time, not at first use.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VigilError } from '../errors.js';
import { createCheckerRegistry, type CheckerRegistry } from './checker-registry.js';
import type { Checker } from './contract.js';

function isPathSpec(spec: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec) || spec.startsWith('file:');
}

/** The export conditions an ESM `import` under Node matches. */
const IMPORT_CONDITIONS = new Set(['import', 'node', 'default']);

/** The first target a conditions object (or plain string) yields, in the object's key order, as Node picks. */
function conditionTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return undefined;
  for (const [condition, value] of Object.entries(target)) {
    const found = IMPORT_CONDITIONS.has(condition) ? conditionTarget(value) : undefined;
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The entry file (relative to the package folder) an ESM import of the package's bare name loads:
 * `exports` for `.` (a string, or conditions `import`, `node`, `default`, nested), else `main`,
 * else `index.js`. Undefined when `exports` offers nothing an import matches.
 */
export function packageEntry(manifest: { exports?: unknown; main?: unknown }): string | undefined {
  const { exports } = manifest;
  if (exports === undefined) return typeof manifest.main === 'string' ? manifest.main : 'index.js';
  // `exports` is either a map of subpaths (keys start with '.') or the target of '.' itself.
  const isSubpathMap =
    typeof exports === 'object' && exports !== null && Object.keys(exports).some((key) => key.startsWith('.'));
  return conditionTarget(isSubpathMap ? (exports as Record<string, unknown>)['.'] : exports);
}

/**
 * Resolves a bare package name the way an ESM import from `baseDir` would, for the packages
 * require-style resolution refuses (an `import`-only `exports`): walks up from `baseDir` to the
 * first `node_modules/<name>/package.json`. Undefined when no such package is installed.
 */
function findPackageEntry(name: string, baseDir: string): string | undefined {
  if (!/^(@[^/@]+\/)?[^/@.][^/@]*$/.test(name)) return undefined; // a bare name, no subpath
  for (let dir = resolve(baseDir); ; dir = dirname(dir)) {
    const manifestFile = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifestFile)) {
      const entry = packageEntry(JSON.parse(readFileSync(manifestFile, 'utf8')) as { exports?: unknown });
      if (entry === undefined) throw new Error(`${manifestFile} has no "import", "node" or "default" export for "."`);
      // Like Node, load a linked package from its real path, so its own imports resolve from there.
      return realpathSync(join(dirname(manifestFile), entry));
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function requireResolve(spec: string, baseDir: string): string | undefined {
  try {
    return createRequire(resolve(baseDir, 'noop.js')).resolve(spec);
  } catch {
    return undefined; // not installed there, or `exports` has no condition require matches
  }
}

async function importSpec(spec: string, baseDir: string): Promise<unknown> {
  if (isPathSpec(spec)) {
    const url = spec.startsWith('file:') ? spec : pathToFileURL(resolve(baseDir, spec)).href;
    return import(url);
  }
  // A package name: resolve it from the config's directory first, then from vigil's own.
  const file = requireResolve(spec, baseDir) ?? findPackageEntry(spec, baseDir);
  return import(file === undefined ? spec : pathToFileURL(file).href);
}

export async function loadPlugin(registry: CheckerRegistry, spec: string, baseDir = process.cwd()): Promise<Checker[]> {
  let mod: { default?: unknown };
  try {
    mod = (await importSpec(spec, baseDir)) as { default?: unknown };
  } catch (err) {
    throw new VigilError('VIGIL_ERR_PLUGIN_LOAD', `plugin ${spec}: ${(err as Error).message}`, 'plugins', { cause: err });
  }
  const exported = mod.default;
  const list: unknown[] = Array.isArray(exported) ? exported : [exported];
  if (list.length === 0) throw new VigilError('VIGIL_ERR_PLUGIN_SHAPE', `plugin ${spec}: exports no checker`, 'plugins');
  const source = `plugin ${spec}`;
  // All or nothing: add the whole list to a copy first, so a bad element (wrong shape, a loaded
  // type, a type twice in the list) throws the registry's own error before any element is added.
  const trial = createCheckerRegistry();
  for (const loaded of registry.list()) trial.add(loaded.checker, loaded.source);
  for (const checker of list) trial.add(checker, source);
  return list.map((checker) => registry.add(checker, source));
}

export async function loadPlugins(registry: CheckerRegistry, specs: readonly string[], baseDir?: string): Promise<void> {
  for (const spec of specs) await loadPlugin(registry, spec, baseDir);
}
