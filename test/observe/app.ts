/** An in-process daemon for the observability tests: real store in a temp folder, real HTTP API on port 0. */
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

export interface TestApp {
  readonly app: App;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Fast probes (every 200 ms) so a flip is seen within a second, with timeouts that a loaded CI
 * machine still meets (150 ms on loopback); `config` is merged over that.
 */
export async function startApp(config: Record<string, unknown> = {}, opts: { dataDir?: string } = {}): Promise<TestApp & { dataDir: string }> {
  const dataDir = opts.dataDir ?? tempDir();
  const checks = { intervalMs: 200, fastIntervalMs: 100, downIntervalMs: 200, timeoutMs: 150, jitter: 0, ...(config.checks as object | undefined) };
  const app = buildApp(parseConfig({ ...config, api: { port: 0, ...(config.api as object | undefined) }, store: { dataDir }, checks }), { logger: pino({ level: 'silent' }) });
  const { url } = await app.start();
  return {
    app,
    url,
    dataDir,
    async stop() {
      await app.stop();
      if (!opts.dataDir) removeDir(dataDir);
    },
  };
}
