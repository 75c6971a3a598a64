/** Reads the YAML config file and flags into a validated, frozen Config. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { VigilError } from '../errors.js';
import { deepFreeze, fieldOf } from '../health/options.js';
import { configSchema, type Config } from './schema.js';

export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = fieldOf(issue, '');
    const code = issue?.code === 'unrecognized_keys' ? 'VIGIL_ERR_CONFIG_UNKNOWN_KEY' : 'VIGIL_ERR_CONFIG_INVALID';
    const what = code === 'VIGIL_ERR_CONFIG_UNKNOWN_KEY' ? `unknown configuration key "${field}"` : `${field}: ${issue?.message}`;
    throw new VigilError(code, what, field);
  }
  return deepFreeze(result.data);
}

export interface ConfigFlags {
  readonly config?: string;
  readonly host?: string;
  readonly port?: number;
  readonly data?: string;
  /** `--nacos-server host:port[,…]`: companion mode against that Nacos server. */
  readonly nacosServer?: string;
}

/** The file (when given) overlaid with the flags; relative paths resolve against the file's folder. */
export function loadConfig(flags: ConfigFlags, cwd = process.cwd()): { config: Config; baseDir: string } {
  let raw: Record<string, unknown> = {};
  let baseDir = cwd;
  if (flags.config) {
    const path = resolve(cwd, flags.config);
    baseDir = dirname(path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `cannot read config file ${path}: ${(err as Error).message}`, 'config');
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `config file ${path} is not valid YAML: ${(err as Error).message}`, 'config');
    }
  }
  const api = { ...(raw.api as object | undefined) } as Record<string, unknown>;
  if (flags.host !== undefined) api.host = flags.host;
  if (flags.port !== undefined) api.port = flags.port;
  const store = { ...(raw.store as object | undefined) } as Record<string, unknown>;
  if (flags.data !== undefined) store.dataDir = flags.data;
  const source = { ...(raw.source as object | undefined) } as Record<string, unknown>;
  if (flags.nacosServer !== undefined) source.nacos = { ...(source.nacos as object | undefined), serverAddr: flags.nacosServer };
  const config = parseConfig({ ...raw, api, store, ...(Object.keys(source).length > 0 ? { source } : {}) });
  const dataDir = resolve(flags.data !== undefined ? cwd : baseDir, config.store.dataDir);
  return { config: deepFreeze({ ...config, store: { ...config.store, dataDir } }), baseDir };
}
