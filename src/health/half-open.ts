/**
 * Sockets for a half-open TCP probe, as HAProxy's plain TCP check makes them: TCP_QUICKACK is off
 * before the connect, so the kernel holds back the final ACK of the handshake, and the probe resets
 * the connection as soon as the SYN-ACK has made it writable. The target's kernel answered for its
 * listening socket, which is what the probe asks; its application never accepts a connection (no
 * wake-up, no accept, no log line per probe), and on loopback the checker's side does less kernel
 * work per probe (bench/README.md, "Half-open TCP probes").
 *
 * Node has no setsockopt, so the socket is made through libc with the koffi FFI library and handed
 * to libuv's TCP handle (`open`). Only on Linux (x64 and arm64, whose socket constants are the ones
 * below) and when koffi loads; otherwise `halfOpenSocket` returns -1 and the caller lets libuv make
 * an ordinary socket: the probe then completes the handshake, with the same outcomes.
 */
import { createRequire } from 'node:module';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_TCP = 6;
const TCP_QUICKACK = 12;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array, length: number): number;
  close(fd: number): number;
}

/** Loaded on first use, per thread (a probe worker loads its own). Null: not available here. */
let libc: Libc | null | undefined;

function load(): Libc | null {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    return {
      socket: lib.func('int socket(int, int, int)') as Libc['socket'],
      setsockopt: lib.func('int setsockopt(int, int, int, _In_ int32_t *, uint32_t)') as Libc['setsockopt'],
      close: lib.func('int close(int)') as Libc['close'],
    };
  } catch {
    return null;
  }
}

const OFF = new Int32Array(1);

/** Whether half-open sockets can be made in this thread. */
export function halfOpenAvailable(): boolean {
  if (libc === undefined) libc = load();
  return libc !== null;
}

/**
 * A new non-blocking TCP socket of `family` with quick ACKs off, for libuv's `TCP#open`; -1 when one
 * cannot be made (not available here, out of descriptors, …): the caller then connects as usual
 * and will see any real error (EMFILE) from libuv itself.
 */
export function halfOpenSocket(family: 4 | 6): number {
  if (!halfOpenAvailable()) return -1;
  const fd = libc!.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (libc!.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, OFF, 4) !== 0) {
    libc!.close(fd);
    return -1;
  }
  return fd;
}

/** Closes a socket from `halfOpenSocket` that no handle took. */
export function closeSocket(fd: number): void {
  libc?.close(fd);
}
