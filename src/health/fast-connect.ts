/**
 * Connect-and-reset on libuv's TCP handle, without a `net.Socket` around it: the plain TCP probe
 * needs only "did the handshake complete", and a Socket (a Duplex stream, its two states, an
 * EventEmitter, the lookup machinery and its destroy path) was ~40 % of the probe's CPU
 * (bench/README.md, "Lean probe path"). Only for IP literals — a name needs the resolver, and
 * `net.connect` keeps doing that. When Node no longer exposes the binding, `rawConnectFamily`
 * answers 0 and callers use `net.connect`; behaviour is the same either way (tcp-handle.ts).
 */
import { onCancel, type Cancellable } from './cancel.js';
import { classifyError } from './classify.js';
import type { CheckOutcome } from './contract.js';
import { closeSocket, halfOpenSocket } from './half-open.js';
import { rawFamily, resetHandle, startConnect, tcpWrap, uvError, type ConnectReq, type TcpHandle } from './tcp-handle.js';

const CONNECTED: CheckOutcome = Object.freeze({ status: 'ok', reason: 'connected' });
const CONNECT_TIMED_OUT: CheckOutcome = Object.freeze({ status: 'fail', reason: 'timeout', detail: 'connect timed out' });

/** The IP family the fast path can take for `host` under the checker's `family` option; 0 when it cannot. */
export function rawConnectFamily(host: string, family: 0 | 4 | 6): 0 | 4 | 6 {
  return rawFamily(host, family);
}

/** The error `net` would have raised, as an outcome: same code, same message shape. */
function failure(status: number, host: string, port: number): CheckOutcome {
  return classifyError(uvError(status, 'connect', `${host}:${port}`));
}

interface AttemptReq extends ConnectReq {
  attempt: Attempt;
}

/**
 * One handshake in flight: its handle, its request and how to settle. A class with shared
 * callbacks instead of closures, since the plain TCP probe is the hottest path vigil has.
 */
class Attempt implements Cancellable {
  readonly handle: TcpHandle;
  readonly host: string;
  readonly port: number;
  readonly resolve: (outcome: CheckOutcome) => void;
  settled = false;

  constructor(handle: TcpHandle, host: string, port: number, resolve: (outcome: CheckOutcome) => void) {
    this.handle = handle;
    this.host = host;
    this.port = port;
    this.resolve = resolve;
  }

  settle(outcome: CheckOutcome): void {
    this.settled = true;
    this.resolve(outcome);
  }

  // A close while connecting makes libuv complete the request with ECANCELED: ignored, settled already.
  cancel(): void {
    if (this.settled) return;
    this.handle.close();
    this.settle(CONNECT_TIMED_OUT);
  }
}

function afterConnect(this: AttemptReq, status: number): void {
  const a = this.attempt;
  if (a.settled) return;
  if (status === 0) resetHandle(a.handle);
  else a.handle.close();
  a.settle(status === 0 ? CONNECTED : failure(status, a.host, a.port));
}

/** See `capture` in runner.ts: an executor that closes over nothing. */
let captured: ((outcome: CheckOutcome) => void) | undefined;
function capture(resolve: (outcome: CheckOutcome) => void): void {
  captured = resolve;
}

/**
 * One attempt at a TCP handshake with `host` (an IP literal of `family`), then a reset (no
 * TIME_WAIT on our side). Settles once: connected, the connect error, or a timeout when the probe
 * behind `ctx` is cancelled first (cancel.ts: the runner's hook, else `ctx.signal`); the handle is
 * always closed. `halfOpen`: reset on the SYN-ACK, before the handshake's last ACK, where
 * half-open.ts can make such a socket (the target's application never sees the connection).
 */
export function rawConnect(host: string, family: 4 | 6, port: number, ctx: { readonly signal: AbortSignal }, halfOpen = false): Promise<CheckOutcome> {
  const { TCP, TCPConnectWrap, constants } = tcpWrap!;
  const answer = new Promise<CheckOutcome>(capture);
  const attempt = new Attempt(new TCP(constants.SOCKET), host, port, captured!);
  captured = undefined;
  const req = new TCPConnectWrap() as AttemptReq;
  req.oncomplete = afterConnect;
  req.attempt = attempt;
  onCancel(ctx, attempt); // first: a probe cancelled already settles here, before any syscall
  if (attempt.settled) return answer;
  if (halfOpen) {
    const fd = halfOpenSocket(family);
    if (fd >= 0 && attempt.handle.open(fd) !== 0) closeSocket(fd);
  }
  const err = startConnect(attempt.handle, req, host, family, port);
  if (err !== 0) {
    attempt.handle.close();
    attempt.settle(failure(err, host, port));
  }
  return answer;
}
