/**
 * `vigil checkers [TYPE ...] [--plugin SPEC ...] [--json]`: the loaded probe types, where each
 * came from, and its options (name, type, default) read from the registry's JSON schema.
 */
import { parseArgs } from 'node:util';
import { builtinCheckers } from '../../checkers/index.js';
import { createCheckerRegistry, type CheckerRegistry } from '../health/checker-registry.js';
import type { Checker } from '../health/contract.js';
import { loadPlugins } from '../health/plugin-loader.js';
import { Exit, formatTable, processIO, reportError, type CliIO } from './output.js';

const USAGE = `usage: vigil checkers [TYPE ...] [--plugin SPEC ...] [--json]

  TYPE            list only these types
  --plugin SPEC   also load a plugin (file path or npm package name); repeatable
  --json          print the types and their option JSON schemas as JSON
`;

/** The built-in checkers plus the plugins named on the command line, relative to the working directory. */
export async function loadCheckers(plugins: readonly string[]): Promise<CheckerRegistry> {
  const registry = createCheckerRegistry(builtinCheckers);
  await loadPlugins(registry, plugins);
  return registry;
}

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

/** The options schema with every secret option's default shown as `***`. */
function schemaOf(registry: CheckerRegistry, checker: Checker): JsonSchema {
  const schema = registry.describe(checker.type) as JsonSchema;
  for (const key of checker.secretOptions ?? []) {
    const prop = schema.properties?.[key];
    if (prop && prop.default !== undefined) prop.default = '***';
  }
  return schema;
}

/** A short type: `string`, `integer`, `boolean[]`, `"GET"|"HEAD"`, `0|4|6`. */
function typeOf(s: JsonSchema | undefined): string {
  if (!s) return 'any';
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join('|');
  const union = s.anyOf ?? s.oneOf;
  if (union) return [...new Set(union.map(typeOf))].join('|');
  if (s.type === 'array') {
    const item = typeOf(s.items);
    return item.includes('|') ? `(${item})[]` : `${item}[]`;
  }
  if (Array.isArray(s.type)) return s.type.join('|');
  return s.type ?? 'any';
}

function optionRows(checker: Checker, schema: JsonSchema): string[][] {
  const secret = new Set(checker.secretOptions ?? []);
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, prop]) => {
    const notes = [required.has(name) ? 'required' : '', secret.has(name) ? 'secret' : ''].filter(Boolean).join(', ');
    const dflt = prop.default === undefined ? '-' : JSON.stringify(prop.default);
    return [name, typeOf(prop), dflt, notes];
  });
}

function human(registry: CheckerRegistry, types: readonly string[]): string {
  const blocks = types.map((type) => {
    const checker = registry.get(type);
    const source = registry.list().find((l) => l.checker === checker)?.source ?? '';
    const head = `${type}  (${source})${checker.description ? `  ${checker.description}` : ''}`;
    const rows = optionRows(checker, schemaOf(registry, checker));
    if (rows.length === 0) return `${head}\n  no options`;
    return `${head}\n${formatTable([['option', 'type', 'default', ''], ...rows], '  ')}`;
  });
  return `${blocks.join('\n\n')}\n`;
}

function json(registry: CheckerRegistry, types: readonly string[]): string {
  const list = types.map((type) => {
    const checker = registry.get(type);
    return {
      type,
      source: registry.list().find((l) => l.checker === checker)?.source,
      description: checker.description,
      secretOptions: checker.secretOptions ?? [],
      options: schemaOf(registry, checker),
    };
  });
  return `${JSON.stringify(list, null, 2)}\n`;
}

export async function checkersCommand(args: string[], io: CliIO = processIO()): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        plugin: { type: 'string', multiple: true, default: [] },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.stdout(USAGE);
      return Exit.ok;
    }
    const registry = await loadCheckers(values.plugin);
    const types = positionals.length > 0 ? positionals : registry.types();
    for (const type of types) registry.get(type); // an unknown type is an error, before any output
    io.stdout(values.json ? json(registry, types) : human(registry, types));
    return Exit.ok;
  } catch (err) {
    return reportError(io, err, USAGE);
  }
}
