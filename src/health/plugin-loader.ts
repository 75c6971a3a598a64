/**
 * Loads external checker plugins at start-up from a file path or an npm package name. A plugin
 * module default-exports one checker (or an array of them) made with defineChecker(). Shapes and
 * duplicate types are checked here, at load time, not at first use.
 */
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VigilError } from '../errors.js';
import type { CheckerRegistry } from './checker-registry.js';
import type { Checker } from './contract.js';

function isPathSpec(spec: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec) || spec.startsWith('file:');
}

async function importSpec(spec: string, baseDir: string): Promise<unknown> {
  if (isPathSpec(spec)) {
    const url = spec.startsWith('file:') ? spec : pathToFileURL(resolve(baseDir, spec)).href;
    return import(url);
  }
  // A package name: resolve it from the config's directory first, then from vigil's own.
  let url: string = spec;
  try {
    url = pathToFileURL(createRequire(resolve(baseDir, 'noop.js')).resolve(spec)).href;
  } catch {
    // ESM-only packages cannot be require-resolved; fall back to a bare import.
  }
  return import(url);
}

export async function loadPlugin(registry: CheckerRegistry, spec: string, baseDir = process.cwd()): Promise<Checker[]> {
  let mod: { default?: unknown };
  try {
    mod = (await importSpec(spec, baseDir)) as { default?: unknown };
  } catch (err) {
    throw new VigilError('VIGIL_ERR_PLUGIN_LOAD', `plugin ${spec}: ${(err as Error).message}`, 'plugins', { cause: err });
  }
  const exported = mod.default;
  const list = Array.isArray(exported) ? exported : [exported];
  if (list.length === 0) throw new VigilError('VIGIL_ERR_PLUGIN_SHAPE', `plugin ${spec}: exports no checker`, 'plugins');
  return list.map((checker) => registry.add(checker, `plugin ${spec}`));
}

export async function loadPlugins(registry: CheckerRegistry, specs: readonly string[], baseDir?: string): Promise<void> {
  for (const spec of specs) await loadPlugin(registry, spec, baseDir);
}
