/**
 * How `vigil` prints an error that ends a command: one line, `vigil: CODE: message`, so people and
 * scripts read the cause and not a stack trace. `--debug` adds the stack for bug reports.
 */
import { isVigilError } from '../errors.js';

/** One line naming the error: its stable code when it has one, then its message. */
export function errorLine(err: unknown, command?: string): string {
  if (isVigilError(err)) return `${err.code}: ${err.message}`;
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = String((err as Error | undefined)?.message ?? err).replace(/\s*\n\s*/g, ' ');
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
    return `VIGIL_ERR_CONFIG_INVALID: ${message} (see vigil ${command ?? ''} --help)`.replace('vigil  --help', 'vigil --help');
  }
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** The lines to print for `err`: the one line, plus the stack with `--debug`. */
export function errorText(err: unknown, debug: boolean, command?: string): string {
  const line = `vigil: ${errorLine(err, command)}\n`;
  const stack = (err as Error | undefined)?.stack;
  return debug && stack ? `${line}${stack}\n` : line;
}
