/**
 * `vigil check <type> <host:port>`: one probe through the same registry, option validation and
 * runner the daemon uses, then its result. Exit 0 when ok, 1 on fail or fail-now, 2 on a usage or
 * config error (printed as `CODE: message`).
 */
import { parseArgs } from 'node:util';
import { VigilError } from '../errors.js';
import type { ProbeResult, Target } from '../health/contract.js';
import { optionsFromPairs, redactOptions } from '../health/options.js';
import { createResourcePool, targetKey } from '../health/resources.js';
import { createRunner } from '../health/runner.js';
import { loadCheckers } from './checkers.js';
import { Exit, formatProbe, processIO, reportError, type CliIO } from './output.js';

const DEFAULT_TIMEOUT_MS = 2000;
const MAX_TIMEOUT_MS = 600_000;

const USAGE = `usage: vigil check <type> <host:port> [--option k=v ...] [--timeout MS] [--plugin SPEC ...] [--json]

  <host:port>        the target; an IPv6 address in brackets: [::1]:6379
  -o, --option k=v   a checker option; JSON values are typed (n=5, tls=false, codes=[200,204]),
                     dotted keys nest (tls.verify=false); repeatable
  --timeout MS       the probe's whole time budget in milliseconds (default ${DEFAULT_TIMEOUT_MS})
  --plugin SPEC      load a plugin (file path or npm package name) first; repeatable
  --json             print the result as JSON (secret options shown as ***)

exit status: 0 ok, 1 fail or fail-now, 2 usage or configuration error
`;

function invalid(field: string, message: string): VigilError {
  return new VigilError('VIGIL_ERR_CONFIG_INVALID', `${field}: ${message}`, field);
}

/** `host:port`, `[v6]:port`; a bare IPv6 address is refused as ambiguous. */
export function parseTarget(text: string): Target {
  const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (!match) {
    const hint = text.split(':').length > 2 && !text.startsWith('[') ? '; write an IPv6 address in brackets, e.g. [::1]:80' : '';
    throw invalid('target', `expected host:port, got ${JSON.stringify(text)}${hint}`);
  }
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) throw invalid('target', `port ${port} is out of range 1-65535`);
  return { host: match[1] ?? match[2] ?? '', port, metadata: {} };
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 1 || ms > MAX_TIMEOUT_MS) {
    throw invalid('timeout', `expected whole milliseconds from 1 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(text)}`);
  }
  return ms;
}

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      option: { type: 'string', short: 'o', multiple: true, default: [] },
      timeout: { type: 'string' },
      plugin: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [type, target, ...extra] = positionals;
  if (!values.help && (type === undefined || target === undefined || extra.length > 0)) {
    throw Object.assign(new TypeError(`expected <type> <host:port>, got ${JSON.stringify(positionals)}`), {
      code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL',
    });
  }
  return { ...values, type: type ?? '', target: target ?? '' };
}

export async function checkCommand(args: string[], io: CliIO = processIO()): Promise<number> {
  try {
    const cli = parse(args);
    if (cli.help) {
      io.stdout(USAGE);
      return Exit.ok;
    }
    const registry = await loadCheckers(cli.plugin);
    const checker = registry.get(cli.type);
    const options = registry.parseOptions(cli.type, optionsFromPairs(cli.option, registry.describe(cli.type)));
    const target = parseTarget(cli.target);
    const timeoutMs = parseTimeout(cli.timeout);

    const pool = createResourcePool();
    let result: ProbeResult;
    try {
      result = await createRunner().run({ checker, target, options, timeoutMs, resources: pool.scope(checker.type) });
    } finally {
      await pool.closeAll();
    }
    const where = targetKey(target.host, target.port);
    if (cli.json) {
      io.stdout(`${JSON.stringify({ ...result, target: where, options: redactOptions(checker, options) })}\n`);
    } else {
      io.stdout(`${formatProbe(result, where)}\n`);
    }
    return result.status === 'ok' ? Exit.ok : Exit.failed;
  } catch (err) {
    return reportError(io, err, USAGE);
  }
}
