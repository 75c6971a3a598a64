/**
 * A checker config is stored in its normalized (parsed) form and validated again when the daemon
 * starts: that form must pass its own schema unchanged, for every built-in checker, or every
 * restart warns and keeps an unvalidated config.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinCheckers } from '../../checkers/index.js';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createCheckerRegistry } from '../../src/health/checker-registry.js';
import { api, removeDir, tempDir } from '../helpers/daemon.js';

/** Options for each built-in type, as an operator writes them (shorthands, not the normalized form). */
const GIVEN: Record<string, object[]> = {
  http: [{}, { path: '/health', expectStatus: '200-299,404', failStatus: 503, headers: { 'x-probe': 'vigil' }, bodyContains: 'ok' }],
  tcp: [{}, { send: 'PING\r\n', expect: '+PONG', family: 4 }],
  mysql: [{}, { user: 'vigil', password: 's3cret', query: 'SELECT 1', expect: 1 }],
};

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

describe('stored checker configs', () => {
  const registry = createCheckerRegistry(builtinCheckers);

  it('has examples for every built-in checker', () => {
    expect(Object.keys(GIVEN).sort()).toEqual(registry.types().sort());
  });

  it.each(Object.entries(GIVEN))('%s: the normalized options validate again to themselves', (type, examples) => {
    for (const given of examples) {
      const normalized = registry.parseOptions(type, given);
      const stored = JSON.parse(JSON.stringify(normalized)) as unknown;
      expect(registry.parseOptions(type, stored)).toEqual(normalized);
    }
  });

  it('restarts on a store holding every checker config without a warning and with the same configs', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const config = parseConfig({ api: { port: 0 }, store: { dataDir }, checks: { enabled: false } });

    const first = buildApp(config, { logger });
    const { url } = await first.start();
    let port = 20_000;
    for (const [type, examples] of Object.entries(GIVEN)) {
      for (const options of examples) {
        const res = await api(url, 'POST', '/v1/instances', { service: `svc-${type}`, ip: '127.0.0.1', port: port++, checker: { type, options } });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
    }
    const before = (await api(url, 'GET', '/v1/instances')).body.instances;
    await first.stop();

    const second = buildApp(config, { logger });
    const again = await second.start();
    try {
      const after = (await api(again.url, 'GET', '/v1/instances')).body.instances;
      expect(after.map((i: { checker: unknown }) => i.checker)).toEqual(before.map((i: { checker: unknown }) => i.checker));
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    } finally {
      await second.stop();
    }
  });
});
