/**
 * TCP probe: one connection attempt to one address. Optionally sends a payload and waits for an
 * expected substring or pattern in what the target answers, reading at most `maxReadBytes`.
 * The socket is closed with a reset so the checker side never piles up TIME_WAIT entries.
 */
import net from 'node:net';
import { z } from 'zod';
import { regexSource, textMatcher, type TextMatcher } from '../src/health/option-schemas.js';
import { classifyError } from '../src/health/classify.js';
import { defineChecker, type CheckOutcome } from '../src/health/contract.js';
import { rawConnect, rawConnectFamily } from '../src/health/fast-connect.js';
import { MAX_TEXT_CHARS } from '../src/registry/limits.js';

/** Longest excerpt of the target's answer put into `detail`. */
const DETAIL_CHARS = 120;

const options = z
  .strictObject({
    /** 0: whatever the resolver returns first; 4 or 6: that family only. */
    family: z.union([z.literal(0), z.literal(4), z.literal(6)]).default(0),
    /** Written once connected. Control characters are taken as they are (no `\r\n` unescaping). */
    send: z.string().min(1).max(MAX_TEXT_CHARS).optional(),
    expect: z.string().min(1).max(MAX_TEXT_CHARS).optional(),
    expectRegex: regexSource().optional(),
    maxReadBytes: z.number().int().positive().max(1_048_576).default(4096),
    /**
     * `full` (default): the handshake completes, then the probe resets. `half`: a plain connect to an
     * IP address resets on the target's SYN-ACK, before the handshake's last ACK, as HAProxy's TCP
     * check does: the target's kernel answered for the port, its application never accepts a probe
     * connection, and both sides spend less per probe. Host names, `send` and `expect` always
     * complete the handshake, and so does a node where half-open sockets cannot be made
     * (src/health/half-open.ts).
     */
    handshake: z.enum(['full', 'half']).default('full'),
  })
  .refine((o) => o.expect === undefined || o.expectRegex === undefined, {
    error: 'set expect or expectRegex, not both',
    path: ['expectRegex'],
  });

type Options = z.output<typeof options>;

type Matcher = TextMatcher;

/**
 * Matchers by validated (frozen) options object, so a pattern is compiled once, not per probe. A
 * memo of a pure derivation of immutable options, not shared state: it changes no behaviour.
 */
const matchers = new WeakMap<Options, Matcher | null>();


function matcherOf(o: Options): Matcher | undefined {
  let matcher = matchers.get(o);
  if (matcher === undefined) matchers.set(o, (matcher = textMatcher(o.expect, o.expectRegex) ?? null));
  return matcher ?? undefined;
}

const CONNECTED: CheckOutcome = Object.freeze({ status: 'ok', reason: 'connected' });

function excerpt(text: string): string {
  return JSON.stringify(text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}…` : text);
}

/**
 * The plain connect (nothing to send, nothing expected), the common case: two socket listeners that
 * are never removed, since the socket is closed here before the outcome is passed on. The 'error'
 * listener outlives the socket: a failed reset can still emit one after the destroy.
 */
function connectOnly(socket: net.Socket, signal: AbortSignal): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: CheckOutcome): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      close(socket);
      resolve(outcome);
    };
    const onAbort = (): void => done({ status: 'fail', reason: 'timeout', detail: socket.connecting ? 'connect timed out' : `no match; read ${excerpt('')}` });
    socket.on('error', (err: Error) => done(classifyError(err))).on('connect', () => done(CONNECTED));
    if (signal.aborted) return onAbort();
    // Not `once`: done() removes it either way, and the option costs an object per probe.
    signal.addEventListener('abort', onAbort);
  });
}

/** Runs the conversation (a payload, an expectation or both) on a connecting socket; settles exactly once and removes its listeners. */
function converse(socket: net.Socket, o: Options, signal: AbortSignal): Promise<CheckOutcome> {
  const matches = matcherOf(o);
  let bytes: Buffer | undefined;
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
      bytes = (bytes === undefined ? chunk : Buffer.concat([bytes, chunk])).subarray(0, o.maxReadBytes);
      read = bytes.toString('utf8');
      if (matches?.(read)) done({ status: 'ok', reason: 'matched' });
      else if (bytes.length >= o.maxReadBytes) {
        done({ status: 'fail', reason: 'mismatch', detail: `no match in the first ${o.maxReadBytes} bytes; read ${excerpt(read)}` });
      }
    };
    const onConnect = (): void => {
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

async function talk(socket: net.Socket, o: Options, signal: AbortSignal): Promise<CheckOutcome> {
  socket.on('error', ignore);
  try {
    return await converse(socket, o, signal);
  } finally {
    close(socket);
  }
}

function ignore(): void {}

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
  check(ctx) {
    const { target, options: o } = ctx;
    const plain = o.send === undefined && o.expect === undefined && o.expectRegex === undefined;
    // The common case, an IP literal with nothing to say: the handshake alone, without a Socket,
    // and without reading ctx.signal (the runner then makes no AbortController for the probe).
    const raw = plain ? rawConnectFamily(target.host, o.family) : 0;
    if (raw !== 0) return rawConnect(target.host, raw, target.port, ctx, o.handshake === 'half');
    const { signal } = ctx;
    // No signal is passed to net.connect: connectOnly()/converse() own abort handling, and an
    // 'error' listener stays until the socket is gone so a late error can never go unhandled.
    // No Nagle switch (a setsockopt per probe) when nothing is written.
    const socket = net.connect({ host: target.host, port: target.port, family: o.family, autoSelectFamily: false, noDelay: o.send !== undefined });
    if (plain) return connectOnly(socket, signal);
    return talk(socket, o, signal);
  },
});
