#!/usr/bin/env node
/**
 * The `vigil` entry point: the only module that reads process.argv, installs signal handlers or
 * exits. Each subcommand lives in its own file and returns an exit status.
 */
import { isVigilError } from '../errors.js';
import { redact } from '../security/redact.js';

const USAGE = `usage: vigil <command> [options]

commands:
  start     run the daemon            vigil start [--config FILE] [--host H] [--port N] [--data DIR]
  status    show services and health  vigil status [--url URL] [--json]   (a token for a daemon with auth: env VIGIL_TOKEN)
  check     one-off probe             vigil check <type> <host:port> [--option k=v ...] [--timeout MS] [--plugin SPEC ...] [--json]
  checkers  list loaded probe types   vigil checkers [--json] [--plugin SPEC ...]
`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import('./start.js')).startCommand,
  // The entry point is the only module that reads the environment: it hands status its token.
  status: async () => {
    const { statusCommand } = await import('./status.js');
    return (args) => statusCommand(args, process.env);
  },
  check: async () => (await import('./check.js')).checkCommand,
  checkers: async () => (await import('./checkers.js')).checkersCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`vigil: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  return (await load())(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const text = isVigilError(err) ? `${err.code}: ${err.message}` : String((err as Error)?.stack ?? err);
    process.stderr.write(`vigil: ${redact(text)}\n`);
    process.exitCode = 2;
  },
);
