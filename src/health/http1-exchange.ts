/**
 * One HTTP/1.1 request and response on a fresh `net` connection, parsed just enough for the http
 * checker's rules: the status line, the framing headers (Content-Length, Transfer-Encoding), and
 * the body up to a byte cap, decoded only when a body rule needs text. undici's per-request cost
 * (a Client, its dispatcher, a body stream) was most of a fresh-connection probe (bench/README.md);
 * keep-alive and HTTPS probes stay on undici. Errors carry the codes classifyError knows:
 * ECONNRESET for a response cut short, HPE_* for what is not HTTP/1.x, ETIMEDOUT for the connect.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { onCancel } from './cancel.js';
import type { CheckOutcome } from './contract.js';

/** Longest response head accepted, as Node's and undici's default. */
export const MAX_HEADER_BYTES = 16_384;

/** What an exchange needs that does not change between probes of one target: made once, reused. */
export interface ExchangeSpec {
  /** `net.connect` options: host, port, family. */
  readonly connect: Readonly<net.NetConnectOpts>;
  /** The whole request head, `Connection: close` included. */
  readonly request: Buffer;
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

/** The probe an exchange runs for: it ends when the probe is cancelled (cancel.ts: no AbortSignal is made for it). */
export interface ExchangeProbe {
  readonly signal: AbortSignal;
  /** `performance.now()` value of the probe's deadline: the connect timer is armed only when it would end the exchange sooner. */
  readonly deadline: number;
}

/** `net.connect` options of a fresh probe connection: one attempt, one address, no Nagle delay. */
export function connectOptions(host: string, port: number, family: 0 | 4 | 6): Readonly<net.NetConnectOpts> {
  return Object.freeze({ host, port, family, autoSelectFamily: false, noDelay: true });
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d\d\d)(?: ([^\r\n]*))?$/;
const HEAD_END = Buffer.from('\r\n\r\n');

function fault(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}

/** Chunked transfer coding, decoded incrementally; `feed` returns the data bytes of a buffer. */
class Dechunker {
  #size = -1; // -1: reading a size line; >0: data left in this chunk; 0 after data: CRLF next
  #line = '';
  #crlf = 0;
  #trailers = false;
  done = false;

  feed(buf: Buffer, out: (part: Buffer) => boolean): void {
    let i = 0;
    while (i < buf.length && !this.done) {
      if (this.#crlf > 0) {
        i++;
        this.#crlf--;
        continue;
      }
      if (this.#size > 0) {
        const n = Math.min(this.#size, buf.length - i);
        this.#size -= n;
        if (this.#size === 0) {
          this.#size = -1;
          this.#crlf = 2;
        }
        if (!out(buf.subarray(i, i + n))) return;
        i += n;
        continue;
      }
      const nl = buf.indexOf(10, i);
      const end = nl === -1 ? buf.length : nl;
      this.#line += buf.toString('latin1', i, end);
      if (this.#line.length > 1024) throw fault('HPE_INVALID_CHUNK_SIZE', 'chunk size line longer than 1024 bytes');
      i = end;
      if (nl === -1) break;
      i++;
      const line = this.#line.replace(/\r$/, '');
      this.#line = '';
      if (this.#trailers) {
        if (line === '') this.done = true;
        continue;
      }
      const size = Number.parseInt(line.split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+$/.test(line.split(';')[0]!.trim())) {
        throw fault('HPE_INVALID_CHUNK_SIZE', `invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
      }
      if (size === 0) this.#trailers = true;
      else this.#size = size;
    }
  }
}

/** Runs the exchange; resolves with the spec's verdict on the answer, or its failure for a coded error. Never rejects. */
export function exchange(spec: ExchangeSpec, probe: ExchangeProbe): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(spec.connect);
    let settled = false;
    let head: Buffer | undefined;
    let statusCode = 0;
    let statusText = '';
    let framing = Framing.None;
    let left = 0;
    let dechunker: Dechunker | undefined;
    let bodyBytes = 0;
    let text = '';
    const decoder = spec.matches ? new StringDecoder('utf8') : undefined;

    const finish = (err: Error | undefined, matched = false): void => {
      if (settled) return;
      settled = true;
      if (connectTimer !== undefined) clearTimeout(connectTimer);
      socket.off('data', onData).off('end', onEnd).off('close', onEnd);
      // A reset leaves no TIME_WAIT behind on our side; a socket still connecting can only be destroyed.
      if (socket.connecting || socket.destroyed) socket.destroy();
      else socket.resetAndDestroy();
      let outcome: CheckOutcome;
      try {
        outcome = err ? spec.failure(err) : spec.verdict(statusCode, statusText, text, matched);
      } catch (bug) {
        // Runs in a socket callback: a throw here would be an uncaught exception, not a failed probe.
        outcome = spec.failure(bug as Error);
      }
      resolve(outcome);
    };
    const end = (): void => finish(undefined, spec.matches !== undefined && spec.matches((text += decoder!.end())));

    /** Takes body bytes; false once the exchange is over. */
    const body = (part: Buffer): boolean => {
      const room = spec.maxBodyBytes - bodyBytes;
      const take = part.length > room ? part.subarray(0, room) : part;
      bodyBytes += take.length;
      if (decoder) {
        text += decoder.write(take);
        if (spec.matches!(text)) {
          finish(undefined, true);
          return false;
        }
      }
      if (bodyBytes >= spec.maxBodyBytes) {
        end();
        return false;
      }
      return true;
    };

    const onBody = (buf: Buffer): void => {
      if (framing === Framing.Length) {
        const n = Math.min(left, buf.length);
        left -= n;
        if (body(buf.subarray(0, n)) && left === 0) end();
      } else if (framing === Framing.Chunked) {
        dechunker!.feed(buf, body);
        if (!settled && dechunker!.done) end();
      } else body(buf);
    };

    /** Parses one response head; returns the bytes after it, or undefined when more are needed. */
    const parseHead = (buf: Buffer): Buffer | undefined => {
      const at = buf.indexOf(HEAD_END);
      if (at === -1 ? buf.length > MAX_HEADER_BYTES : at > MAX_HEADER_BYTES) {
        throw fault('HPE_HEADER_OVERFLOW', `response headers longer than ${MAX_HEADER_BYTES} bytes`);
      }
      if (at === -1) {
        // Not even a status line's start: say so at once instead of waiting for the deadline.
        if (buf.length >= 5 && buf.toString('latin1', 0, 5) !== 'HTTP/') throw notHttp(buf);
        return undefined;
      }
      const lines = buf.toString('latin1', 0, at).split('\r\n');
      const status = STATUS_LINE.exec(lines[0]!);
      if (!status) throw notHttp(buf);
      statusCode = Number(status[1]);
      statusText = status[2] ?? '';
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
      const rest = buf.subarray(at + 4);
      // Interim answers (100 Continue, 103 Early Hints) precede the real one.
      if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) return parseHead(rest) ?? (head = rest, undefined);
      if (spec.head || statusCode === 204 || statusCode === 304 || !spec.wantsBody(statusCode)) framing = Framing.None;
      else if (chunked) (framing = Framing.Chunked), (dechunker = new Dechunker());
      else if (length !== undefined) (framing = Framing.Length), (left = length);
      else framing = Framing.UntilClose;
      return rest;
    };

    const onData = (chunk: Buffer): void => {
      try {
        if (statusCode === 0 || (statusCode < 200 && statusCode !== 101 && framing === Framing.None)) {
          head = head === undefined ? chunk : Buffer.concat([head, chunk]);
          const rest = parseHead(head);
          if (rest === undefined) return;
          head = undefined;
          if (framing === Framing.None || (framing === Framing.Length && left === 0)) return end();
          if (rest.length > 0) onBody(rest);
        } else onBody(chunk);
      } catch (err) {
        finish(err as Error);
      }
    };

    const onEnd = (): void => {
      if (statusCode === 0) return finish(fault('ECONNRESET', 'connection closed before the response headers'));
      if (framing === Framing.UntilClose) return end();
      finish(fault('ECONNRESET', 'connection closed in the middle of the response body'));
    };
    // The probe's deadline ends the exchange anyway: a connect timer that could not fire before it
    // would only be one more timer per probe.
    let connectTimer: NodeJS.Timeout | undefined;
    if (spec.connectTimeoutMs < probe.deadline - performance.now()) {
      connectTimer = setTimeout(() => finish(fault('ETIMEDOUT', `connect timed out after ${spec.connectTimeoutMs} ms`)), spec.connectTimeoutMs);
      connectTimer.unref();
    }

    // Kept after the end: a reset can still emit an error once we are done with the socket.
    socket.on('error', (err: Error) => finish(err));
    if (connectTimer !== undefined) socket.once('connect', () => clearTimeout(connectTimer));
    socket.on('data', onData).once('end', onEnd).once('close', onEnd);
    onCancel(probe, { cancel: () => finish(fault('ABORT_ERR', 'probe aborted')) });
    if (settled) return;
    socket.write(spec.request);
  });
}

function notHttp(buf: Buffer): Error {
  const first = buf.toString('latin1', 0, Math.min(buf.length, 60)).split('\r\n')[0]!;
  return fault('HPE_INVALID_CONSTANT', `response is not HTTP/1.x: ${JSON.stringify(first)}`);
}
