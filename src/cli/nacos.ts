/**
 * `vigil nacos adopt <service>`: sets the health checker of every cluster of one service on the
 * Nacos server to NONE, the setting under which Nacos accepts health from outside
 * (`PUT health/instance`), keeping each cluster's check port and metadata. It prints the checker
 * each cluster had, so it can go into `source.nacos.services` if vigil should keep probing that way.
 */
import { parseArgs } from 'node:util';
import { clientFor, credentialsOf } from '../companion/setup.js';
import { redact } from '../security/redact.js';
import { loadConfig } from '../config/load.js';
import { VigilError } from '../errors.js';
import { splitServiceName } from '../registry/model.js';

const USAGE = 'usage: vigil nacos adopt <service> [--nacos-server HOST:PORT[,…]] [--config FILE] [--namespace NS] [--group GROUP]\n';

export async function nacosCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'nacos-server': { type: 'string' },
      namespace: { type: 'string' },
      group: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [sub, name, ...rest] = positionals;
  if (sub !== 'adopt' || name === undefined || rest.length > 0) {
    process.stderr.write(USAGE);
    return 2;
  }
  const { config } = loadConfig({
    ...(values.config !== undefined ? { config: values.config } : {}),
    ...(values['nacos-server'] !== undefined ? { nacosServer: values['nacos-server'] } : {}),
  });
  const cfg = config.source.nacos;
  if (cfg.serverAddr === undefined) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', 'give --nacos-server or a config with source.nacos.serverAddr', 'source.nacos.serverAddr');
  const s = splitServiceName(name, values.group);
  const ref = { namespace: values.namespace ?? cfg.namespaces?.[0] ?? 'public', group: s.group, service: s.service };
  const { client } = clientFor(cfg, credentialsOf(cfg, process.env), Date.now);
  try {
    const clusters = await client.service(ref);
    if (clusters === undefined || clusters.length === 0) {
      process.stderr.write(`vigil: ${ref.group}@@${ref.service} in namespace ${ref.namespace} has no clusters on ${client.http.server}\n`);
      return 1;
    }
    for (const c of clusters) {
      const before = c.healthChecker ?? { type: 'TCP' };
      if (before.type.toUpperCase() === 'NONE') {
        process.stdout.write(`${c.name}: already NONE\n`);
        continue;
      }
      await client.setClusterChecker(ref, c, { type: 'NONE' });
      // A MYSQL checker carries its password, an HTTP one may carry credentials in its headers.
      process.stdout.write(`${c.name}: was ${JSON.stringify(redact(before))}, now NONE\n`);
    }
    return 0;
  } finally {
    await client.http.close();
  }
}
