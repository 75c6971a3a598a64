/**
 * libuv's TCP handle as Node's internal bindings expose it (`tcp_wrap`, `stream_wrap`): what the
 * handle-level probes (fast-connect.ts, http1-raw.ts) use instead of a `net.Socket`. Only for IP
 * literals — a name needs the resolver, and `net` keeps doing that. When Node no longer exposes
 * the bindings, `rawFamily` answers 0 and callers use `net`.
 */
import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';

export interface ConnectReq {
  oncomplete: (status: number) => void;
  address: string;
  port: number;
}
export interface WriteReq {
  oncomplete: (status: number) => void;
}
export interface TcpHandle {
  /** Adopts a socket made elsewhere (half-open.ts); libuv's error code, 0 when done. */
  open(fd: number): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  /** Closes with an RST (no TIME_WAIT on our side); not 0 when it could not, and the handle is then still open. */
  reset(cb: () => void): number;
  close(cb?: () => void): void;
  writeBuffer(req: WriteReq, data: Buffer): number;
  /** Reads go into this buffer from now on (`onread` gets no ArrayBuffer, the bytes are at its start). */
  useUserBuffer(buf: Buffer): void;
  readStart(): number;
  /** Called with the handle as `this`; the byte count or a negative libuv error is in `streamState[kReadBytesOrError]`. */
  onread(this: TcpHandle, arrayBuffer: ArrayBuffer | undefined): void;
}
interface TcpWrap {
  readonly TCP: new (type: number) => TcpHandle;
  readonly TCPConnectWrap: new () => ConnectReq;
  readonly constants: { readonly SOCKET: number };
}
interface StreamWrap {
  readonly WriteWrap: new () => WriteReq;
  readonly streamBaseState: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kLastWriteWasAsync: number;
}

function load<T>(name: string, has: (b: Partial<T>) => boolean): T | undefined {
  try {
    const b = (process as unknown as { binding(name: string): Partial<T> }).binding(name);
    return has(b) ? (b as T) : undefined;
  } catch {
    return undefined;
  }
}

export const tcpWrap = load<TcpWrap>('tcp_wrap', (b) => typeof b.TCP === 'function' && typeof b.TCPConnectWrap === 'function' && b.constants !== undefined);
export const streamWrap = load<StreamWrap>(
  'stream_wrap',
  (b) => typeof b.WriteWrap === 'function' && b.streamBaseState instanceof Int32Array && typeof b.kReadBytesOrError === 'number' && typeof b.kLastWriteWasAsync === 'number',
);
/** libuv's end-of-stream code; the same on every platform. */
export const UV_EOF = -4095;

/** The IP family the handle path can take for `host` under a `family` option (0: any); 0 when it cannot. */
export function rawFamily(host: string, family: 0 | 4 | 6): 0 | 4 | 6 {
  if (!tcpWrap) return 0;
  const f = isIP(host) as 0 | 4 | 6;
  return f !== 0 && (family === 0 || family === f) ? f : 0;
}

/** The error `net` raises for a failed libuv call: same code, same message (`connect ECONNREFUSED 127.0.0.1:80`, `read ECONNRESET`). */
export function uvError(status: number, syscall: string, hostPort?: string): Error {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(hostPort === undefined ? `${syscall} ${code}` : `${syscall} ${code} ${hostPort}`), { code });
}

/** Starts a connect of `handle` to `host` (an IP literal of `family`); libuv's error code, 0 when under way. */
export function startConnect(handle: TcpHandle, req: ConnectReq, host: string, family: 4 | 6, port: number): number {
  req.address = host;
  req.port = port;
  return family === 4 ? handle.connect(req, host, port) : handle.connect6(req, host, port);
}

/** Closes a connected handle with an RST, else (a reset refused) plainly. */
export function resetHandle(handle: TcpHandle): void {
  if (handle.reset(noop) !== 0) handle.close();
}

function noop(): void {}
