#!/usr/bin/env node
/**
 * The `vigil` entry point: the only module that reads process.argv, installs signal handlers or
 * exits. Each subcommand lives in its own file and returns an exit status.
 */
import { processIO } from './output.js';
import { redact } from '../security/redact.js';
import { errorText } from './errors.js';
import { version } from './version.js';

const USAGE = `usage: vigil <command> [options]       vigil <command> --help for its options
       vigil --version                     print the version

commands:
  start     run the daemon            vigil start [--config FILE] [--host H] [--port N] [--data DIR] [--nacos-server HOST:PORT[,…]]
  status    show services and health  vigil status [--url URL] [--json]   (a token for a daemon with auth: env VIGIL_TOKEN)
  check     one-off probe             vigil check <type> <host:port> [--option k=v ...] [--timeout MS] [--plugin SPEC ...] [--json]
  checkers  list loaded probe types   vigil checkers [--json] [--plugin SPEC ...]
  primary   the writable primary      vigil primary <service> [--url URL] [--namespace NS] [--group G] [--cluster C] [--json]
  nacos     companion helpers         vigil nacos adopt <service> [--nacos-server HOST:PORT] [--config FILE] [--namespace NS] [--group G]

Errors print one line (vigil: CODE: message); add --debug to any command for the stack.
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
  primary: async () => {
    const { primaryCommand } = await import('./primary.js');
    return (args) => primaryCommand(args, { ...processIO(), env: process.env });
  },
  nacos: async () => (await import('./nacos.js')).nacosCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`vigil ${version()}\n`);
    return 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`vigil: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  return (await load())(args);
}

const argv = process.argv.slice(2);
const debug = argv.includes('--debug');
const rest = argv.filter((a) => a !== '--debug');
main(rest).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(redact(errorText(err, debug, rest[0])));
    process.exitCode = 2;
  },
);
