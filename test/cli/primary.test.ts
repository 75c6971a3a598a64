/**
 * `vigil primary` usage and error paths (no database needed): they exit 3, never 0/1/2, which
 * mean one / none / split (those are exercised against real replication in test/api/primary.test.ts).
 */
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { primaryCommand, PrimaryExit } from '../../src/cli/primary.js';

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await primaryCommand(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

async function closedPortUrl(): Promise<string> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

describe('vigil primary', () => {
  it('exits 3 with the usage when no service or two services are given', async () => {
    for (const args of [[], ['a', 'b']]) {
      const r = await run(...args);
      expect(r).toMatchObject({ code: PrimaryExit.error, stdout: '' });
      expect(r.stderr).toMatch(/^VIGIL_ERR_CONFIG_INVALID: give exactly one service name\nusage: vigil primary/);
    }
  });

  it('exits 3 on an unknown option, naming it', async () => {
    const r = await run('orders-db', '--bogus');
    expect(r.code).toBe(PrimaryExit.error);
    expect(r.stderr).toContain("'--bogus'");
  });

  it('exits 3 when the daemon does not answer', async () => {
    const url = await closedPortUrl();
    const r = await run('orders-db', '--url', url);
    expect(r.code).toBe(PrimaryExit.error);
    expect(r.stderr).toContain(`${url} did not answer`);
  });
});
