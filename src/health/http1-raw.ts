/**
 * The fresh-connection HTTP exchange on libuv's TCP handle, without a `net.Socket` around it (a
 * Duplex stream, an EventEmitter, the lookup machinery and the destroy path were most of what a
 * probe cost once undici was gone: bench/README.md, issue 15). Connect, write the prebuilt request
 * head, read into one buffer shared by every exchange of this thread, reset. What Node's
 * lib/internal/stream_base_commons.js does for a Socket, minus the stream: `onread` gets the byte
 * count (or a negative libuv error, UV_EOF at the end) in `streamBaseState[kReadBytesOrError]`, and,
 * with `useUserBuffer`, no ArrayBuffer: the bytes are at the start of the user buffer.
 */
import { onCancel } from './cancel.js';
import type { CheckOutcome } from './contract.js';
import type { ExchangeProbe, ExchangeSpec } from './http1-exchange.js';
import { ResponseReader } from './http1-response.js';
import { resetHandle, startConnect, streamWrap, tcpWrap, UV_EOF, uvError, type ConnectReq, type TcpHandle, type WriteReq } from './tcp-handle.js';

/**
 * Every exchange of this thread reads into this one buffer (64 KiB, Node's own read size): a read
 * is handed to the reader synchronously, and the reader copies what it keeps (ResponseReader.data),
 * so no read can overwrite bytes still in use. Saves the 64 KiB allocation, the ArrayBuffer and
 * the Buffer a plain read makes each time. Made on first use.
 */
let readBuffer: Buffer | undefined;

interface Owned {
  exchange: RawExchange;
}

/** One exchange on a TCP handle; see ResponseReader for the parsing and settling. */
export class RawExchange extends ResponseReader {
  readonly #spec: ExchangeSpec;
  readonly #handle: TcpHandle & Owned;
  #connected = false;

  constructor(spec: ExchangeSpec, family: 4 | 6, probe: ExchangeProbe, resolve: (outcome: CheckOutcome) => void) {
    super(spec, resolve);
    this.#spec = spec;
    const { TCP, TCPConnectWrap, constants } = tcpWrap!;
    const handle = (this.#handle = new TCP(constants.SOCKET) as TcpHandle & Owned);
    handle.exchange = this;
    this.armConnectTimer(probe.deadline);
    onCancel(probe, this); // before any syscall: a probe cancelled already settles (and closes the handle) here
    if (this.settled) return;
    const req = new TCPConnectWrap() as ConnectReq & Owned;
    req.oncomplete = afterConnect;
    req.exchange = this;
    const { host, port } = spec.connect;
    const err = startConnect(handle, req, host, family, port);
    if (err !== 0) this.fail(uvError(err, 'connect', `${host}:${port}`));
  }

  /** The handshake completed: write the request, start reading. */
  onConnect(): void {
    this.#connected = true;
    this.connected();
    const handle = this.#handle;
    const { WriteWrap, streamBaseState, kLastWriteWasAsync } = streamWrap!;
    const req = new WriteWrap() as WriteReq & Owned & { buffer?: Buffer };
    req.oncomplete = afterWrite;
    req.exchange = this;
    // A request head this small almost always goes out at once; when it does not, the request
    // keeps its bytes alive until libuv is done with them, as Node's own writes do.
    const err = handle.writeBuffer(req, this.#spec.request);
    if (err !== 0) return this.fail(uvError(err, 'write'));
    if (streamBaseState[kLastWriteWasAsync]) req.buffer = this.#spec.request;
    // No setNoDelay, unlike the `net` path's `noDelay` option: with one write per connection Nagle
    // never holds anything back, and it would be one more syscall per probe.
    handle.useUserBuffer((readBuffer ??= Buffer.allocUnsafe(65_536)));
    handle.onread = onRead;
    const readErr = handle.readStart();
    if (readErr !== 0) this.fail(uvError(readErr, 'read'));
  }

  protected release(): void {
    // A reset leaves no TIME_WAIT on our side. A close while connecting makes libuv complete the
    // connect with ECANCELED, and an unfinished write likewise: both find the exchange settled.
    if (this.#connected) resetHandle(this.#handle);
    else this.#handle.close();
  }
}

function afterConnect(this: ConnectReq & Owned, status: number): void {
  const x = this.exchange;
  if (x.settled) return;
  if (status === 0) x.onConnect();
  else x.fail(uvError(status, 'connect', `${this.address}:${this.port}`));
}

function afterWrite(this: WriteReq & Owned, status: number): void {
  if (status < 0) this.exchange.fail(uvError(status, 'write'));
}

function onRead(this: TcpHandle & Owned): void {
  const { streamBaseState, kReadBytesOrError } = streamWrap!;
  const n = streamBaseState[kReadBytesOrError]!;
  if (n > 0) this.exchange.data(readBuffer!.subarray(0, n));
  else if (n === UV_EOF) this.exchange.eof();
  else if (n < 0) this.exchange.fail(uvError(n, 'read'));
}
