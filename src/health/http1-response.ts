/**
 * The response side of one minimal HTTP/1.1 exchange, whatever carries its bytes (a `net.Socket`
 * in http1-exchange.ts, libuv's TCP handle in http1-raw.ts): the status line, the framing headers
 * (Content-Length, Transfer-Encoding), and the body up to a byte cap, decoded only when a body rule
 * needs text. Also what every exchange shares around it: the connect timer, the cancel hook, and
 * settling exactly once. Errors carry the codes classifyError knows: ECONNRESET for a response cut
 * short, HPE_* for what is not HTTP/1.x, ETIMEDOUT for the connect.
 */
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import type { Cancellable } from './cancel.js';
import type { CheckOutcome } from './contract.js';
import { Dechunker, fault } from './http1-chunked.js';

/** Longest response head accepted, as Node's and undici's default. */
export const MAX_HEADER_BYTES = 16_384;

/** How an answer is read and judged: made once per target, reused by its probes. */
export interface ResponseRules {
  readonly connectTimeoutMs: number;
  /** A HEAD request: no body follows whatever the headers say. */
  readonly head: boolean;
  /** Whether a response with this status needs its body read (false: the exchange ends at the headers). */
  readonly wantsBody: (statusCode: number) => boolean;
  readonly maxBodyBytes: number;
  /** A body rule: text is decoded and the exchange ends as soon as it holds. */
  readonly matches: ((text: string) => boolean) | undefined;
  /** The outcome of a complete answer: `text` is the decoded body (up to maxBodyBytes), only when `matches` was given. */
  readonly verdict: (statusCode: number, statusText: string, text: string, matched: boolean) => CheckOutcome;
  /** The outcome of a coded error (see the top of this file). */
  readonly failure: (err: Error) => CheckOutcome;
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d\d\d)(?: ([^\r\n]*))?$/;
const HEAD_END = Buffer.from('\r\n\r\n');

const enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}

function onConnectTimeout(reader: ResponseReader): void {
  reader.fail(fault('ETIMEDOUT', `connect timed out after ${reader.rules.connectTimeoutMs} ms`));
}

/**
 * One exchange's response and life: a transport subclass feeds it bytes (`data`), the end of the
 * stream (`eof`) and its errors (`fail`), and closes its connection in `release`, which runs once,
 * before the outcome is passed on. A class rather than closures: one object per probe.
 */
export abstract class ResponseReader implements Cancellable {
  readonly rules: ResponseRules;
  settled = false;
  readonly #resolve: (outcome: CheckOutcome) => void;
  #connectTimer: NodeJS.Timeout | undefined;
  /** Head bytes so far, owned (never a view of a transport's buffer). */
  #head: Buffer | undefined;
  #inHead = true;
  #statusCode = 0;
  #statusText = '';
  #framing = Framing.None;
  #left = 0;
  #dechunker: Dechunker | undefined;
  #bodyBytes = 0;
  #text = '';
  readonly #decoder: StringDecoder | undefined;

  constructor(rules: ResponseRules, resolve: (outcome: CheckOutcome) => void) {
    this.rules = rules;
    this.#resolve = resolve;
    this.#decoder = rules.matches ? new StringDecoder('utf8') : undefined;
  }

  /** Closes the connection; called once, when the exchange is over. */
  protected abstract release(): void;

  /**
   * Arms the connect timer, only when it would end the exchange before the probe's deadline (a
   * performance.now() value) does anyway: else it would only be one more timer per probe. True when armed.
   */
  protected armConnectTimer(deadline: number): boolean {
    const ms = this.rules.connectTimeoutMs;
    if (ms >= deadline - performance.now()) return false;
    this.#connectTimer = setTimeout(onConnectTimeout, ms, this);
    this.#connectTimer.unref();
    return true;
  }

  /** The handshake completed: the connect timer is done. */
  protected connected(): void {
    if (this.#connectTimer === undefined) return;
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  /** The probe was cancelled (cancel.ts); a no-op once settled. */
  cancel(): void {
    this.fail(fault('ABORT_ERR', 'probe aborted'));
  }

  /** Ends the exchange with a coded error; a no-op once settled. */
  fail(err: Error): void {
    this.#finish(err, false);
  }

  /** Bytes as they arrived. They are read during the call only: a transport may reuse `chunk` afterwards. */
  data(chunk: Buffer): void {
    if (this.settled) return;
    try {
      if (!this.#inHead) return this.#onBody(chunk);
      const rest = this.#readHead(chunk);
      if (rest === undefined) return;
      if (this.#framing === Framing.None || (this.#framing === Framing.Length && this.#left === 0)) return this.#end();
      if (rest.length > 0) this.#onBody(rest);
    } catch (err) {
      this.#finish(err as Error, false);
    }
  }

  /** The peer ended its side of the connection. */
  eof(): void {
    if (this.settled) return;
    if (this.#statusCode === 0) return this.fail(fault('ECONNRESET', 'connection closed before the response headers'));
    if (this.#framing === Framing.UntilClose) return this.#end();
    this.fail(fault('ECONNRESET', 'connection closed in the middle of the response body'));
  }

  #finish(err: Error | undefined, matched: boolean): void {
    if (this.settled) return;
    this.settled = true;
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer);
    this.release();
    const rules = this.rules;
    let outcome: CheckOutcome;
    try {
      outcome = err ? rules.failure(err) : rules.verdict(this.#statusCode, this.#statusText, this.#text, matched);
    } catch (bug) {
      // Runs in a transport callback: a throw here would be an uncaught exception, not a failed probe.
      outcome = rules.failure(bug as Error);
    }
    this.#resolve(outcome);
  }

  /** The whole answer is in (or as much of it as is read): judge it. */
  #end(): void {
    const { matches } = this.rules;
    this.#finish(undefined, matches !== undefined && matches((this.#text += this.#decoder!.end())));
  }

  /** Takes body bytes; false once the exchange is over. */
  #takeBody(part: Buffer): boolean {
    const rules = this.rules;
    const room = rules.maxBodyBytes - this.#bodyBytes;
    const take = part.length > room ? part.subarray(0, room) : part;
    this.#bodyBytes += take.length;
    if (this.#decoder) {
      this.#text += this.#decoder.write(take);
      if (rules.matches!(this.#text)) {
        this.#finish(undefined, true);
        return false;
      }
    }
    if (this.#bodyBytes >= rules.maxBodyBytes) {
      this.#end();
      return false;
    }
    return true;
  }

  #onBody(buf: Buffer): void {
    if (this.#framing === Framing.Length) {
      const n = Math.min(this.#left, buf.length);
      this.#left -= n;
      if (this.#takeBody(buf.subarray(0, n)) && this.#left === 0) this.#end();
    } else if (this.#framing === Framing.Chunked) {
      this.#dechunker!.feed(buf);
      if (!this.settled && this.#dechunker!.done) this.#end();
    } else this.#takeBody(buf);
  }

  /** Reads response heads (interim ones skipped) until the final one; returns the bytes after it, or undefined when more are needed. */
  #readHead(chunk: Buffer): Buffer | undefined {
    const owned = this.#head !== undefined;
    let buf = owned ? Buffer.concat([this.#head!, chunk]) : chunk;
    for (;;) {
      const at = buf.indexOf(HEAD_END);
      if (at === -1 ? buf.length > MAX_HEADER_BYTES : at > MAX_HEADER_BYTES) {
        throw fault('HPE_HEADER_OVERFLOW', `response headers longer than ${MAX_HEADER_BYTES} bytes`);
      }
      if (at === -1) {
        // Not even a status line's start: say so at once instead of waiting for the deadline.
        if (buf.length >= 5 && buf.toString('latin1', 0, 5) !== 'HTTP/') throw notHttp(buf.toString('latin1', 0, Math.min(buf.length, 60)));
        // Kept across reads: a copy when it still views the transport's buffer.
        this.#head = owned ? buf : Buffer.from(buf);
        return undefined;
      }
      const rest = buf.subarray(at + 4);
      if (this.#parseHead(buf.toString('latin1', 0, at))) {
        this.#inHead = false;
        this.#head = undefined;
        return rest;
      }
      buf = rest; // an interim answer (100 Continue, 103 Early Hints) precedes the real one
    }
  }

  /** Parses one head (without its final CRLF CRLF); false for an interim answer. */
  #parseHead(text: string): boolean {
    const lines = text.split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) throw notHttp(text);
    const statusCode = (this.#statusCode = Number(status[1]));
    this.#statusText = status[2] ?? '';
    let length: number | undefined;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw fault('HPE_INVALID_HEADER_TOKEN', `invalid header line ${JSON.stringify(line.slice(0, 40))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      if (name === 'content-length') {
        const v = line.slice(colon + 1).trim();
        if (!/^\d+$/.test(v) || (length !== undefined && length !== Number(v))) throw fault('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length ${JSON.stringify(v)}`);
        length = Number(v);
      } else if (name === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(line.slice(colon + 1));
    }
    if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) return false;
    if (this.rules.head || statusCode === 204 || statusCode === 304 || !this.rules.wantsBody(statusCode)) this.#framing = Framing.None;
    else if (chunked) (this.#framing = Framing.Chunked), (this.#dechunker = new Dechunker((part) => this.#takeBody(part)));
    else if (length !== undefined) (this.#framing = Framing.Length), (this.#left = length);
    else this.#framing = Framing.UntilClose;
    return true;
  }
}

/** `start`: the answer's first bytes, as latin1. */
function notHttp(start: string): Error {
  const first = start.slice(0, 60).split('\r\n')[0]!;
  return fault('HPE_INVALID_CONSTANT', `response is not HTTP/1.x: ${JSON.stringify(first)}`);
}
