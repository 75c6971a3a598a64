/**
 * TCP probe: one connection attempt to one address. Optionally sends a payload and waits for an
 * expected substring or pattern in what the target answers, reading at most `maxReadBytes`.
 * The socket is closed with a reset so the checker side never piles up TIME_WAIT entries.
 */
import net from 'node:net';
import { z } from 'zod';
import { classifyError } from '../src/health/classify.js';
import { defineChecker, type CheckOutcome } from '../src/health/contract.js';

/** Longest excerpt of the target's answer put into `detail`. */
const DETAIL_CHARS = 120;

function compiles(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const options = z
  .strictObject({
    /** 0: whatever the resolver returns first; 4 or 6: that family only. */
    family: z.union([z.literal(0), z.literal(4), z.literal(6)]).default(0),
    /** Written once connected. Control characters are taken as they are (no `\r\n` unescaping). */
    send: z.string().min(1).optional(),
    expect: z.string().min(1).optional(),
    expectRegex: z.string().min(1).refine(compiles, { error: 'not a valid regular expression' }).optional(),
    maxReadBytes: z.number().int().positive().max(1_048_576).default(4096),
  })
  .refine((o) => o.expect === undefined || o.expectRegex === undefined, {
    error: 'set expect or expectRegex, not both',
    path: ['expectRegex'],
  });

type Options = z.output<typeof options>;

function matcherOf(o: Options): ((text: string) => boolean) | undefined {
  const { expect, expectRegex } = o;
  if (expect !== undefined) return (text) => text.includes(expect);
  if (expectRegex !== undefined) {
    const re = new RegExp(expectRegex);
    return (text) => re.test(text);
  }
  return undefined;
}

function excerpt(text: string): string {
  return JSON.stringify(text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}…` : text);
}

/** Runs the conversation on a connecting socket; settles exactly once and removes its listeners. */
function converse(socket: net.Socket, o: Options, signal: AbortSignal): Promise<CheckOutcome> {
  const matches = matcherOf(o);
  let bytes = Buffer.alloc(0);
  let read = '';
  return new Promise((resolve) => {
    const done = (outcome: CheckOutcome): void => {
      signal.removeEventListener('abort', onAbort);
      socket.off('connect', onConnect).off('error', onError).off('data', onData).off('end', onEnd).off('close', onEnd);
      resolve(outcome);
    };
    const onAbort = (): void =>
      done({ status: 'fail', reason: 'timeout', detail: socket.connecting ? 'connect timed out' : `no match; read ${excerpt(read)}` });
    const onError = (err: Error): void => done(classifyError(err));
    const onEnd = (): void => done({ status: 'fail', reason: 'mismatch', detail: `closed before a match; read ${excerpt(read)}` });
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]).subarray(0, o.maxReadBytes);
      read = bytes.toString('utf8');
      if (matches?.(read)) done({ status: 'ok', reason: 'matched' });
      else if (bytes.length >= o.maxReadBytes) {
        done({ status: 'fail', reason: 'mismatch', detail: `no match in the first ${o.maxReadBytes} bytes; read ${excerpt(read)}` });
      }
    };
    const onConnect = (): void => {
      if (o.send === undefined && !matches) return done({ status: 'ok', reason: 'connected' });
      if (matches) socket.on('data', onData).once('end', onEnd).once('close', onEnd);
      if (o.send === undefined) return;
      socket.write(o.send, (err) => {
        // Without an expectation, success is the payload handed to the kernel.
        if (!err && !matches) done({ status: 'ok', reason: 'connected' });
      });
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', onConnect).on('error', onError);
  });
}

function close(socket: net.Socket): void {
  // resetAndDestroy() on a socket still connecting waits for the connect to finish, which for a
  // blackholed SYN holds the descriptor for minutes; a plain destroy releases it now.
  if (socket.connecting || socket.destroyed) socket.destroy();
  else socket.resetAndDestroy();
}

export default defineChecker({
  type: 'tcp',
  description: 'Opens one TCP connection; optionally sends a payload and expects a substring or pattern back.',
  options,
  async check({ target, options: o, signal }) {
    // No signal is passed to net.connect: converse() owns abort handling, and the listener below
    // stays until the socket is gone so a late error can never go unhandled.
    const socket = net.connect({ host: target.host, port: target.port, family: o.family, autoSelectFamily: false, noDelay: true });
    socket.on('error', () => {});
    try {
      return await converse(socket, o, signal);
    } finally {
      close(socket);
    }
  },
});
