/**
 * Connect-and-reset on libuv's TCP handle, without a `net.Socket` around it: the plain TCP probe
 * needs only "did the handshake complete", and a Socket (a Duplex stream, its two states, an
 * EventEmitter, the lookup machinery and its destroy path) was ~40 % of the probe's CPU
 * (bench/README.md, "Lean probe path"). Only for IP literals — a name needs the resolver, and
 * `net.connect` keeps doing that. When Node no longer exposes the binding, `rawConnectAvailable`
 * is false and callers use `net.connect`; behaviour is the same either way.
 */
import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { onCancel, type Cancellable } from './cancel.js';
import { classifyError } from './classify.js';
import type { CheckOutcome } from './contract.js';
import { closeSocket, halfOpenSocket } from './half-open.js';

interface ConnectReq {
  oncomplete: (status: number) => void;
  address: string;
  port: number;
}
interface TcpHandle {
  open(fd: number): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  reset(cb: () => void): number;
  close(cb?: () => void): void;
}
interface TcpWrap {
  readonly TCP: new (type: number) => TcpHandle;
  readonly TCPConnectWrap: new () => ConnectReq;
  readonly constants: { readonly SOCKET: number };
}

function loadBinding(): TcpWrap | undefined {
  try {
    const b = (process as unknown as { binding(name: string): Partial<TcpWrap> }).binding('tcp_wrap');
    return typeof b.TCP === 'function' && typeof b.TCPConnectWrap === 'function' && b.constants ? (b as TcpWrap) : undefined;
  } catch {
    return undefined;
  }
}

const binding = loadBinding();

const CONNECTED: CheckOutcome = Object.freeze({ status: 'ok', reason: 'connected' });
const CONNECT_TIMED_OUT: CheckOutcome = Object.freeze({ status: 'fail', reason: 'timeout', detail: 'connect timed out' });

/** The IP family the fast path can take for `host` under the checker's `family` option; 0 when it cannot. */
export function rawConnectFamily(host: string, family: 0 | 4 | 6): 0 | 4 | 6 {
  if (!binding) return 0;
  const f = isIP(host) as 0 | 4 | 6;
  return f !== 0 && (family === 0 || family === f) ? f : 0;
}

/** The error `net` would have raised, as an outcome: same code, same message shape. */
function failure(status: number, host: string, port: number): CheckOutcome {
  const code = getSystemErrorName(status);
  return classifyError(Object.assign(new Error(`connect ${code} ${host}:${port}`), { code }));
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
  if (status === 0 && a.handle.reset(noop) === 0) return a.settle(CONNECTED);
  a.handle.close();
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
  const { TCP, TCPConnectWrap, constants } = binding!;
  const answer = new Promise<CheckOutcome>(capture);
  const attempt = new Attempt(new TCP(constants.SOCKET), host, port, captured!);
  captured = undefined;
  const req = new TCPConnectWrap() as AttemptReq;
  req.oncomplete = afterConnect;
  req.address = host;
  req.port = port;
  req.attempt = attempt;
  onCancel(ctx, attempt); // first: a probe cancelled already settles here, before any syscall
  if (attempt.settled) return answer;
  if (halfOpen) {
    const fd = halfOpenSocket(family);
    if (fd >= 0 && attempt.handle.open(fd) !== 0) closeSocket(fd);
  }
  const err = family === 4 ? attempt.handle.connect(req, host, port) : attempt.handle.connect6(req, host, port);
  if (err !== 0) {
    attempt.handle.close();
    attempt.settle(failure(err, host, port));
  }
  return answer;
}

function noop(): void {}
