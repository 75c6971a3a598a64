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
import { classifyError } from './classify.js';
import type { CheckOutcome } from './contract.js';

interface ConnectReq {
  oncomplete: (status: number) => void;
  address: string;
  port: number;
}
interface TcpHandle {
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

/**
 * One attempt at a TCP handshake with `host` (an IP literal of `family`), then a reset (no
 * TIME_WAIT on our side). Settles once: connected, the connect error, or a timeout when `signal`
 * aborts first; the handle is always closed.
 */
export function rawConnect(host: string, family: 4 | 6, port: number, signal: AbortSignal): Promise<CheckOutcome> {
  const { TCP, TCPConnectWrap, constants } = binding!;
  return new Promise((resolve) => {
    const handle = new TCP(constants.SOCKET);
    const req = new TCPConnectWrap();
    let settled = false;
    const settle = (outcome: CheckOutcome): void => {
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    // A close while connecting makes libuv complete the request with ECANCELED: ignored, settled already.
    const onAbort = (): void => {
      if (settled) return;
      handle.close();
      settle(CONNECT_TIMED_OUT);
    };
    req.oncomplete = (status) => {
      if (settled) return;
      if (status === 0 && handle.reset(noop) === 0) return settle(CONNECTED);
      handle.close();
      settle(status === 0 ? CONNECTED : failure(status, host, port));
    };
    req.address = host;
    req.port = port;
    if (signal.aborted) return onAbort();
    const err = family === 4 ? handle.connect(req, host, port) : handle.connect6(req, host, port);
    if (err !== 0) {
      handle.close();
      return settle(failure(err, host, port));
    }
    signal.addEventListener('abort', onAbort);
  });
}

function noop(): void {}
