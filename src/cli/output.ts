/** Small helpers the CLI commands share: where output goes, how errors and probe results print. */
import { isVigilError } from '../errors.js';
import type { ProbeResult } from '../health/contract.js';

/** Where a command writes. Tests pass their own to capture output; `main` uses the process's. */
export interface CliIO {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** The environment, for commands that read it; passed in so commands never read process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export function processIO(): CliIO {
  return {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
  };
}

/** Exit statuses shared by the commands. */
export const Exit = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * Prints a deliberate error as `CODE: message` and returns the usage/config exit status; a bad
 * command line (node's parseArgs) prints its message and the usage. Anything else is a bug and is
 * rethrown for `main` to print (one line; the stack with `--debug`).
 */
export function reportError(io: CliIO, err: unknown, usage: string): number {
  if (isVigilError(err)) {
    io.stderr(`${err.code}: ${err.message}\n`);
    return Exit.usage;
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
    io.stderr(`VIGIL_ERR_CONFIG_INVALID: ${(err as Error).message}\n${usage}`);
    return Exit.usage;
  }
  throw err;
}

export function formatLatency(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** One line: `ok  tcp 127.0.0.1:80  connected  1.2 ms  <detail>  role=primary`. */
export function formatProbe(result: ProbeResult, target: string): string {
  const parts = [result.status, `${result.type} ${target}`, result.reason, formatLatency(result.latencyMs)];
  if (result.detail !== undefined && result.detail !== '') parts.push(result.detail.replace(/\s*\n\s*/g, ' '));
  const facts = Object.entries(result.facts ?? {}).map(([k, v]) => `${k}=${String(v)}`);
  if (facts.length > 0) parts.push(facts.join(' '));
  return parts.join('  ');
}

/** Left-aligned columns, two spaces apart; trailing blanks trimmed. */
export function formatTable(rows: readonly (readonly string[])[], indent = ''): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => indent + row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd())
    .join('\n');
}
