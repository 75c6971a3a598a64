import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Client, errors as undiciErrors } from 'undici';
import { describe, expect, it } from 'vitest';
import { classifyError } from '../../src/health/classify.js';

/** An error as Node, undici and mysql2 throw them: a message plus a `code` (and maybe more). */
function coded(code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`boom ${code}`), { code }, extra);
}

describe('classifyError: by code', () => {
  it.each([
    ['ECONNREFUSED', 'fail-now', 'refused'],
    ['ETIMEDOUT', 'fail', 'timeout'],
    ['UND_ERR_CONNECT_TIMEOUT', 'fail', 'timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'fail', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'fail', 'timeout'],
    ['ABORT_ERR', 'fail', 'timeout'],
    ['UND_ERR_ABORTED', 'fail', 'timeout'],
    ['PROTOCOL_SEQUENCE_TIMEOUT', 'fail', 'timeout'],
    ['ECONNRESET', 'fail', 'reset'],
    ['EPIPE', 'fail', 'reset'],
    ['UND_ERR_SOCKET', 'fail', 'reset'],
    ['UND_ERR_CLOSED', 'fail', 'reset'],
    ['UND_ERR_DESTROYED', 'fail', 'reset'],
    ['PROTOCOL_CONNECTION_LOST', 'fail', 'reset'],
    ['EHOSTUNREACH', 'fail', 'unreachable'],
    ['ENETUNREACH', 'fail', 'unreachable'],
    ['EADDRNOTAVAIL', 'fail', 'unreachable'],
    ['ENOTFOUND', 'fail-now', 'dns'],
    ['EAI_AGAIN', 'fail', 'dns'],
    ['ER_CON_COUNT_ERROR', 'fail', 'overloaded'],
    ['EMFILE', 'fail', 'local-fds-exhausted'],
    ['ENFILE', 'fail', 'local-fds-exhausted'],
    ['ER_ACCESS_DENIED_ERROR', 'fail-now', 'auth'],
    ['ER_ACCESS_DENIED_NO_PASSWORD_ERROR', 'fail-now', 'auth'],
    ['ER_HOST_NOT_PRIVILEGED', 'fail-now', 'auth'],
    ['ER_DBACCESS_DENIED_ERROR', 'fail-now', 'auth'],
    ['ER_BAD_DB_ERROR', 'fail-now', 'sql'],
  ])('maps %s to %s %s', (code, status, reason) => {
    expect(classifyError(coded(code))).toEqual({ status, reason, detail: `boom ${code}` });
  });

  it.each([
    ['ERR_TLS_CERT_ALTNAME_INVALID'],
    ['ERR_SSL_WRONG_VERSION_NUMBER'],
    ['ERR_OSSL_EVP_UNSUPPORTED'],
    ['CERT_HAS_EXPIRED'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['SELF_SIGNED_CERT_IN_CHAIN'],
  ])('maps the TLS code %s to fail-now tls', (code) => {
    expect(classifyError(coded(code))).toMatchObject({ status: 'fail-now', reason: 'tls' });
  });

  it.each([['ER_NO_SUCH_TABLE'], ['ER_PARSE_ERROR'], ['ER_UNKNOWN_ERROR']])(
    'maps any other MySQL server code (%s) to fail-now sql',
    (code) => {
      expect(classifyError(coded(code))).toMatchObject({ status: 'fail-now', reason: 'sql' });
    },
  );

  it.each([['HPE_INVALID_CONSTANT'], ['HPE_INVALID_HEADER_TOKEN'], ['HPE_CR_EXPECTED']])(
    'maps the undici HTTP parser code %s to fail protocol',
    (code) => {
      expect(classifyError(coded(code))).toEqual({ status: 'fail', reason: 'protocol', detail: `boom ${code}` });
    },
  );

  it('maps the error undici throws for a peer that does not speak HTTP to fail protocol', async () => {
    // undici 7 leaves `code` unset on its parser errors (it looks the code up by number in a
    // name-to-number table), so the class name is what identifies them.
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = new Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const err = await client.request({ path: '/', method: 'GET' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(undiciErrors.HTTPParserError);
      expect(classifyError(err)).toMatchObject({ status: 'fail', reason: 'protocol' });
    } finally {
      await client.destroy();
      server.close();
    }
  });

  it("maps undici's closed and destroyed client errors to fail reset", () => {
    expect(classifyError(new undiciErrors.ClientClosedError())).toMatchObject({ status: 'fail', reason: 'reset' });
    expect(classifyError(new undiciErrors.ClientDestroyedError())).toMatchObject({ status: 'fail', reason: 'reset' });
  });

  it('answers fail error for an unknown code', () => {
    expect(classifyError(coded('EWHATEVER'))).toEqual({ status: 'fail', reason: 'error', detail: 'boom EWHATEVER' });
  });
});

describe('classifyError: without a known code', () => {
  it('finds the code on a wrapped error, via cause', () => {
    const wrapped = new Error('fetch failed', { cause: coded('ECONNREFUSED') });
    expect(classifyError(wrapped)).toEqual({ status: 'fail-now', reason: 'refused', detail: 'fetch failed' });
    const deeper = new Error('outer', { cause: new Error('middle', { cause: coded('ECONNRESET') }) });
    expect(classifyError(deeper)).toMatchObject({ status: 'fail', reason: 'reset' });
  });

  it('maps a fatal mysql2 error without a code to fail reset', () => {
    const err = Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true });
    expect(classifyError(err)).toMatchObject({ status: 'fail', reason: 'reset' });
  });

  it('does not take a non-fatal error without a code for a reset', () => {
    expect(classifyError(Object.assign(new Error('x'), { fatal: false }))).toMatchObject({ reason: 'error' });
  });

  it('maps a TimeoutError or AbortError by name to fail timeout', () => {
    expect(classifyError(new DOMException('late', 'TimeoutError'))).toMatchObject({ status: 'fail', reason: 'timeout' });
    const abort = new Error('stopped');
    abort.name = 'AbortError';
    expect(classifyError(abort)).toMatchObject({ status: 'fail', reason: 'timeout' });
  });

  it('answers fail error with the message as detail for anything else, even a non-Error', () => {
    expect(classifyError(new Error('odd'))).toEqual({ status: 'fail', reason: 'error', detail: 'odd' });
    expect(classifyError('a string')).toEqual({ status: 'fail', reason: 'error', detail: 'a string' });
    expect(classifyError(undefined)).toEqual({ status: 'fail', reason: 'error', detail: 'undefined' });
  });
});
