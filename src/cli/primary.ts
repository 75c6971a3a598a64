/**
 * `vigil primary <service>`: asks a running daemon which instance is the writable primary.
 * Prints `ip:port` on stdout and exits 0 when there is exactly one; exits 1 when there is none and
 * 2 on a split brain (the reason or the candidates on stderr); 3 when the daemon cannot answer
 * or the command line is wrong. `--json` prints the daemon's whole answer on stdout.
 */
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { redact } from '../security/redact.js';
import { processIO, type CliIO } from './output.js';

const USAGE = `usage: vigil primary <service> [--url URL] [--namespace NS] [--group G] [--cluster C] [--json]

  the API token, when the daemon needs one for reads, comes from the environment: VIGIL_TOKEN

exit status: 0 one primary (ip:port on stdout), 1 none, 2 split brain, 3 error or usage
`;

/** The exit statuses of this command (the contract: one / none / split). */
export const PrimaryExit = { one: 0, none: 1, split: 2, error: 3 } as const;

interface InstanceView {
  readonly ip: string;
  readonly port: number;
  readonly cluster: string;
}

const address = (i: InstanceView): string => (i.ip.includes(':') ? `[${i.ip}]:${i.port}` : `${i.ip}:${i.port}`);

export async function primaryCommand(args: string[], io: CliIO = processIO()): Promise<number> {
  let values: { url: string; namespace?: string | undefined; group?: string | undefined; cluster?: string | undefined; json: boolean; help: boolean };
  let service: string | undefined;
  try {
    const parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        url: { type: 'string', default: 'http://127.0.0.1:8848' },
        namespace: { type: 'string' },
        group: { type: 'string' },
        cluster: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
    values = parsed.values;
    service = parsed.positionals.length === 1 ? parsed.positionals[0] : undefined;
  } catch (err) {
    io.stderr(`VIGIL_ERR_CONFIG_INVALID: ${(err as Error).message}\n${USAGE}`);
    return PrimaryExit.error;
  }
  if (values.help) {
    io.stdout(USAGE);
    return PrimaryExit.one;
  }
  if (service === undefined) {
    io.stderr(`VIGIL_ERR_CONFIG_INVALID: give exactly one service name\n${USAGE}`);
    return PrimaryExit.error;
  }
  const url = new URL(`/v1/services/${encodeURIComponent(service)}/primary`, values.url);
  for (const k of ['namespace', 'group', 'cluster'] as const) if (values[k] !== undefined) url.searchParams.set(k, values[k]);
  let status: number;
  let body: Record<string, unknown>;
  try {
    // The token comes from the environment, never a flag (flags show in `ps`), as for `vigil status`.
    const token = io.env?.VIGIL_TOKEN;
    const res = await request(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, headersTimeout: 5000, bodyTimeout: 5000 });
    status = res.statusCode;
    body = (await res.body.json()) as Record<string, unknown>;
  } catch (err) {
    io.stderr(redact(`vigil primary: ${values.url} did not answer: ${(err as Error).message}\n`));
    return PrimaryExit.error;
  }
  if (values.json) io.stdout(JSON.stringify(body, null, 2) + '\n');
  if (status === 200) {
    if (!values.json) io.stdout(`${address(body.primary as InstanceView)}\n`);
    return PrimaryExit.one;
  }
  if (status === 409) {
    const candidates = (body.candidates as InstanceView[]).map(address).join(', ');
    io.stderr(`vigil primary: split brain in ${service}: writable ${candidates}\n`);
    return PrimaryExit.split;
  }
  if (status === 503) {
    io.stderr(`vigil primary: no primary for ${service}: ${String(body.reason)}\n`);
    return PrimaryExit.none;
  }
  io.stderr(redact(`vigil primary: ${String(body.code ?? status)}: ${String(body.message ?? '')}\n`));
  return PrimaryExit.error;
}
