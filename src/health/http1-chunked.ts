/** Chunked transfer coding (RFC 9112 §7.1) for the minimal HTTP/1.1 exchange (http1-response.ts). */

/** An error with a `code` classifyError knows (HPE_* is llhttp's family: a `protocol` failure). */
export function fault(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Chunked transfer coding, decoded incrementally; `feed` passes on the data bytes of a buffer. */
export class Dechunker {
  #size = -1; // -1: reading a size line; >0: data left in this chunk; 0 after data: CRLF next
  #line = '';
  #crlf = 0;
  #trailers = false;
  readonly #out: (part: Buffer) => boolean;
  done = false;

  /** `out` takes data bytes (only for the call: they are not kept) and returns false once the exchange is over. */
  constructor(out: (part: Buffer) => boolean) {
    this.#out = out;
  }

  feed(buf: Buffer): void {
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
        if (!this.#out(buf.subarray(i, i + n))) return;
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
