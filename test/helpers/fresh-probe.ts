import http from '../../checkers/http.js';
import type { ProbeResult } from '../../src/health/contract.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool, type ResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';

/**
 * The fresh-connection http probe of 127.0.0.1 the http-fresh tests run: one runner and one
 * resource pool per test file (close `pool` after the file), `timeoutMs` by default per file.
 */
export function freshProber(defaultTimeoutMs: number): { readonly pool: ResourcePool; probe(port: number, raw?: object, timeoutMs?: number): Promise<ProbeResult> } {
  const runner = createRunner();
  const pool = createResourcePool();
  return {
    pool,
    probe: (port, raw = {}, timeoutMs = defaultTimeoutMs) =>
      runner.run({
        checker: http,
        target: { host: '127.0.0.1', port, metadata: {} },
        options: parseOptions(http, { connection: 'fresh', ...raw }),
        timeoutMs,
        resources: pool.scope('http'),
      }),
  };
}
