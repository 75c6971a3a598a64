/** Reads the YAML config file and flags into a validated, frozen Config. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { VigilError } from '../errors.js';
import { deepFreeze, fieldOf } from '../health/options.js';
import { configSchema, type Config } from './schema.js';

export function parseConfig(input: unknown): Config {
  refuseClusterWithoutSharedStore(input);
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

/** Cluster options mean nothing to the embedded store: say so in one line instead of ignoring them. */
function refuseClusterWithoutSharedStore(input: unknown): void {
  const raw = (input ?? {}) as { store?: { kind?: unknown }; cluster?: object };
  const given = raw.cluster && typeof raw.cluster === 'object' ? Object.keys(raw.cluster) : [];
  if (given.length > 0 && raw.store?.kind !== 'mysql') {
    throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `cluster.${given[0]}: cluster options need the shared store (store.kind: mysql, or --store mysql://…); the embedded store runs one node`, `cluster.${given[0]}`);
  }
  if (raw.store?.kind === 'mysql' && !given.includes('nodeId')) {
    throw new VigilError('VIGIL_ERR_CONFIG_INVALID', 'cluster.nodeId: the shared store needs a node id (cluster.nodeId or --node-id)', 'cluster.nodeId');
  }
}

export interface ConfigFlags {
  readonly config?: string;
  readonly host?: string;
  readonly port?: number;
  readonly data?: string;
  /** --store mysql://…: the shared store. */
  readonly store?: string;
  readonly nodeId?: string;
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
  if (flags.store !== undefined) Object.assign(store, { kind: 'mysql', url: flags.store });
  const cluster = { ...(raw.cluster as object | undefined) } as Record<string, unknown>;
  if (flags.nodeId !== undefined) cluster.nodeId = flags.nodeId;
  const source = { ...(raw.source as object | undefined) } as Record<string, unknown>;
  if (flags.nacosServer !== undefined) source.nacos = { ...(source.nacos as object | undefined), serverAddr: flags.nacosServer };
  const config = parseConfig({
    ...raw,
    api,
    store,
    ...(Object.keys(cluster).length > 0 ? { cluster } : {}),
    ...(Object.keys(source).length > 0 ? { source } : {}),
  });
  const dataDir = resolve(flags.data !== undefined ? cwd : baseDir, config.store.dataDir);
  return { config: deepFreeze({ ...config, store: { ...config.store, dataDir } }), baseDir };
}
