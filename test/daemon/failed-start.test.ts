/**
 * A start that fails after the store is open (here: the history store cannot be created) leaves
 * nothing behind: the port, the data dir's lock and the store are free for the next start.
 */
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { removeDir, tempDir } from '../helpers/daemon.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('a failed start', () => {
  it('releases the port, the lock and the store, so the next start succeeds on them', async () => {
    const dataDir = tempDir();
    try {
      const port = await freePort();
      const config = parseConfig({ api: { host: '127.0.0.1', port }, store: { dataDir }, checks: { enabled: false } });
      // A directory where the history database file must go: opening it fails after the store is open.
      mkdirSync(join(dataDir, 'history.db'));
      const failing = buildApp(config, { logger: pino({ level: 'silent' }) });
      await expect(failing.start()).rejects.toMatchObject({ code: 'VIGIL_ERR_STORE' });
      expect(existsSync(join(dataDir, 'vigil.lock'))).toBe(false);

      rmdirSync(join(dataDir, 'history.db'));
      const app = buildApp(config, { logger: pino({ level: 'silent' }) });
      const { url } = await app.start();
      try {
        expect(url).toContain(`:${port}`);
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
      } finally {
        await app.stop();
      }
    } finally {
      removeDir(dataDir);
    }
  });
});
