/** `vigil start`: runs the daemon until SIGTERM/SIGINT, then stops gracefully. */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { buildApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import { VigilError } from '../errors.js';

const USAGE = `usage: vigil start [--config FILE] [--host H] [--port N] [--data DIR] [--nacos-server HOST:PORT[,…]] [--store mysql://user:pass@host:port/db --node-id ID]

  -c, --config FILE  YAML configuration (docs/configuration.md); relative paths in it resolve against its folder
  --host H           address the API binds to (default 127.0.0.1)
  --port N           API port (default 8848; 0 picks a free one)
  --data DIR         data directory of the embedded store (default ./vigil-data); one daemon per directory
  --store URL        the shared MySQL/MariaDB store of a cluster instead of the embedded one (docs/cluster.md)
  --node-id ID       this node's id in the cluster (with --store)
  --nacos-server A   companion mode beside an existing Nacos server at host:port[,host:port…] (docs/companion.md);
                     with --store and --node-id, one of several companions that split the instances
  --debug            print the stack of an error that stops the daemon

A cluster needs its secret: VIGIL_CLUSTER_SECRET=… in the environment, or cluster.secret/secretFile.
Runs until SIGTERM or SIGINT, then stops gracefully. Prints "vigil: listening on URL" once ready.
`;

export async function startCommand(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      store: { type: 'string' },
      'node-id': { type: 'string' },
      'nacos-server': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `--port: not a port: ${values.port}`, 'api.port');
  }
  const { config, baseDir } = loadConfig({
    ...(values.config !== undefined ? { config: values.config } : {}),
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(values.data !== undefined ? { data: values.data } : {}),
    ...(values.store !== undefined ? { store: values.store } : {}),
    ...(values['node-id'] !== undefined ? { nodeId: values['node-id'] } : {}),
    ...(values['nacos-server'] !== undefined ? { nacosServer: values['nacos-server'] } : {}),
  });
  // Set before the heap grows: V8 reads it as it sizes its spaces from here on.
  if (config.runtime.optimizeForSize) setFlagsFromString('--optimize-for-size');
  // Handlers go in before the "listening" line: a supervisor (or a test) that signals as soon as it
  // reads the line must reach them, not node's default of dying on the spot with the store open.
  const signalled = new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  const clusterSecret = env.VIGIL_CLUSTER_SECRET;
  const app = buildApp(config, { baseDir, env: process.env, ...(clusterSecret ? { clusterSecret } : {}) });
  const { url } = await app.start();
  // One plain line whatever the log level, for people and for scripts waiting on the port.
  process.stderr.write(`vigil: listening on ${url}\n`);
  await signalled;
  await app.stop();
  return 0;
}
