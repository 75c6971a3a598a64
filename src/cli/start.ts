/** `vigil start`: runs the daemon until SIGTERM/SIGINT, then stops gracefully. */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { buildApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import { VigilError } from '../errors.js';

export async function startCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      'nacos-server': { type: 'string' },
    },
    strict: true,
  });
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
    ...(values['nacos-server'] !== undefined ? { nacosServer: values['nacos-server'] } : {}),
  });
  // Set before the heap grows: V8 reads it as it sizes its spaces from here on.
  if (config.runtime.optimizeForSize) setFlagsFromString('--optimize-for-size');
  const app = buildApp(config, { baseDir, env: process.env });
  const { url } = await app.start();
  // One plain line whatever the log level, for people and for scripts waiting on the port.
  process.stderr.write(`vigil: listening on ${url}\n`);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await app.stop();
  return 0;
}
