/**
 * The one registry of loaded checker types. The API's type enum, `vigil checkers` and config
 * validation all read from here, never from a second list.
 */
import { z } from 'zod';
import { VigilError } from '../errors.js';
import { isChecker, type Checker } from './contract.js';
import { parseOptions } from './options.js';

export interface LoadedChecker {
  readonly checker: Checker;
  /** `builtin` or the plugin spec it came from. */
  readonly source: string;
}

export interface CheckerRegistry {
  add(checker: unknown, source: string): Checker;
  get(type: string): Checker;
  has(type: string): boolean;
  types(): string[];
  list(): LoadedChecker[];
  /** Validates and freezes options for `type`; errors name the field under `prefix`. */
  parseOptions(type: string, raw: unknown, prefix?: string): object;
  /** JSON Schema of a type's options, for `vigil checkers` and docs. */
  describe(type: string): unknown;
}

export function createCheckerRegistry(builtins: readonly Checker[] = []): CheckerRegistry {
  const loaded = new Map<string, LoadedChecker>();

  const registry: CheckerRegistry = {
    add(checker, source) {
      if (!isChecker(checker)) {
        throw new VigilError('VIGIL_ERR_PLUGIN_SHAPE', `${source}: does not export a checker made with defineChecker()`, 'plugins');
      }
      const existing = loaded.get(checker.type);
      if (existing) {
        throw new VigilError(
          'VIGIL_ERR_PLUGIN_DUPLICATE_TYPE',
          `${source}: checker type "${checker.type}" is already loaded from ${existing.source}`,
          'plugins',
        );
      }
      loaded.set(checker.type, { checker, source });
      return checker;
    },
    get(type) {
      const entry = loaded.get(type);
      if (!entry) {
        throw new VigilError(
          'VIGIL_ERR_CHECKER_UNKNOWN_TYPE',
          `unknown checker type "${type}" (loaded: ${[...loaded.keys()].join(', ')})`,
          'type',
        );
      }
      return entry.checker;
    },
    has: (type) => loaded.has(type),
    types: () => [...loaded.keys()],
    list: () => [...loaded.values()],
    parseOptions: (type, raw, prefix) => parseOptions(registry.get(type), raw, prefix),
    describe: (type) => z.toJSONSchema(registry.get(type).options, { io: 'input', unrepresentable: 'any' }),
  };
  for (const checker of builtins) registry.add(checker, 'builtin');
  return registry;
}
