/**
 * One HTTP/1.1 request and response on a fresh connection, parsed just enough for the http
 * checker's rules (http1-response.ts). undici's per-request cost (a Client, its dispatcher, a body
 * stream) was most of a fresh-connection probe (bench/README.md); keep-alive and HTTPS probes stay
 * on undici. To an IP literal the exchange runs on libuv's TCP handle (http1-raw.ts: no
 * `net.Socket`, the bulk of what was left); to a name, or when Node does not expose the handle,
 * on `net`. Both read and judge the answer with the same ResponseReader, so outcomes are the same.
 */
import net from 'node:net';
import { onCancel } from './cancel.js';
import type { CheckOutcome } from './contract.js';
import { RawExchange } from './http1-raw.js';
import { ResponseReader, type ResponseRules } from './http1-response.js';
import { streamWrap, tcpWrap } from './tcp-handle.js';

export { MAX_HEADER_BYTES } from './http1-response.js';

/** What an exchange needs that does not change between probes of one target: made once, reused. */
export interface ExchangeSpec extends ResponseRules {
  /** `net.connect` options: host, port, family. */
  readonly connect: Readonly<net.TcpNetConnectOpts & { host: string }>;
  /** The IP family of `connect.host` when it is a literal the TCP handle can take (tcp-handle.ts `rawFamily`); 0: `net`. */
  readonly rawFamily: 0 | 4 | 6;
  /** The whole request head, `Connection: close` included. */
  readonly request: Buffer;
}

/** The probe an exchange runs for: it ends when the probe is cancelled (cancel.ts: no AbortSignal is made for it). */
export interface ExchangeProbe {
  readonly signal: AbortSignal;
  /** `performance.now()` value of the probe's deadline: the connect timer is armed only when it would end the exchange sooner. */
  readonly deadline: number;
}

/** `net.connect` options of a fresh probe connection: one attempt, one address, no Nagle delay. */
export function connectOptions(host: string, port: number, family: 0 | 4 | 6): Readonly<net.TcpNetConnectOpts & { host: string }> {
  return Object.freeze({ host, port, family, autoSelectFamily: false, noDelay: true });
}

/**
 * Which transport exchanges take, and how many took each: a diagnostic, and the seam that lets
 * tests run the same cases on both (`useRaw = false` is what a Node without the bindings does).
 * Nothing in the daemon sets it.
 */
export const exchangePaths = { useRaw: tcpWrap !== undefined && streamWrap !== undefined, raw: 0, net: 0 };

/** The exchange on a `net.Socket`: the fallback for names and for a Node without the handle bindings. */
class NetExchange extends ResponseReader {
  readonly #socket: net.Socket;

  constructor(spec: ExchangeSpec, probe: ExchangeProbe, resolve: (outcome: CheckOutcome) => void) {
    super(spec, resolve);
    const socket = (this.#socket = net.connect(spec.connect));
    const timed = this.armConnectTimer(probe.deadline);
    // Kept after the end: a reset can still emit an error once we are done with the socket. The
    // other listeners stay too: the reader ignores whatever comes after it settled.
    socket.on('error', (err: Error) => this.fail(err));
    if (timed) socket.once('connect', () => this.connected());
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.once('end', () => this.eof()).once('close', () => this.eof());
    onCancel(probe, this);
    if (this.settled) return;
    socket.write(spec.request);
  }

  protected release(): void {
    const socket = this.#socket;
    // A reset leaves no TIME_WAIT behind on our side; a socket still connecting can only be destroyed.
    if (socket.connecting || socket.destroyed) socket.destroy();
    else socket.resetAndDestroy();
  }
}

/** See `capture` in runner.ts: an executor that closes over nothing. */
let captured: ((outcome: CheckOutcome) => void) | undefined;
function capture(resolve: (outcome: CheckOutcome) => void): void {
  captured = resolve;
}

/** Runs the exchange; resolves with the spec's verdict on the answer, or its failure for a coded error. Never rejects. */
export function exchange(spec: ExchangeSpec, probe: ExchangeProbe): Promise<CheckOutcome> {
  const answer = new Promise<CheckOutcome>(capture);
  const resolve = captured!;
  captured = undefined;
  if (spec.rawFamily !== 0 && exchangePaths.useRaw) {
    exchangePaths.raw++;
    new RawExchange(spec, spec.rawFamily, probe, resolve);
  } else {
    exchangePaths.net++;
    new NetExchange(spec, probe, resolve);
  }
  return answer;
}
