/**
 * Maps a thrown error to an outcome by its stable `code` (never by its message). Checkers may call
 * it for errors they do not classify themselves; the runner calls it for anything a checker throws.
 */
import type { CheckOutcome, Verdict } from './contract.js';

/** The reason of a probe that failed because vigil had no file descriptor left. */
export const FD_EXHAUSTED = 'local-fds-exhausted';

const BY_CODE: Readonly<Record<string, readonly [Verdict, string]>> = {
  ECONNREFUSED: ['fail-now', 'refused'],
  ETIMEDOUT: ['fail', 'timeout'],
  UND_ERR_CONNECT_TIMEOUT: ['fail', 'timeout'],
  UND_ERR_HEADERS_TIMEOUT: ['fail', 'timeout'],
  UND_ERR_BODY_TIMEOUT: ['fail', 'timeout'],
  ABORT_ERR: ['fail', 'timeout'],
  UND_ERR_ABORTED: ['fail', 'timeout'],
  ECONNRESET: ['fail', 'reset'],
  EPIPE: ['fail', 'reset'],
  UND_ERR_SOCKET: ['fail', 'reset'],
  // The client was closed or destroyed under the request (e.g. a cached client evicted meanwhile).
  UND_ERR_CLOSED: ['fail', 'reset'],
  UND_ERR_DESTROYED: ['fail', 'reset'],
  PROTOCOL_CONNECTION_LOST: ['fail', 'reset'],
  EHOSTUNREACH: ['fail', 'unreachable'],
  ENETUNREACH: ['fail', 'unreachable'],
  EADDRNOTAVAIL: ['fail', 'unreachable'],
  ENOTFOUND: ['fail-now', 'dns'],
  EAI_AGAIN: ['fail', 'dns'],
  PROTOCOL_SEQUENCE_TIMEOUT: ['fail', 'timeout'],
  ER_CON_COUNT_ERROR: ['fail', 'overloaded'],
  // vigil itself is out of descriptors: says nothing about the target (the scheduler discards it).
  EMFILE: ['fail', FD_EXHAUSTED],
  ENFILE: ['fail', FD_EXHAUSTED],
  ER_ACCESS_DENIED_ERROR: ['fail-now', 'auth'],
  ER_ACCESS_DENIED_NO_PASSWORD_ERROR: ['fail-now', 'auth'],
  ER_HOST_NOT_PRIVILEGED: ['fail-now', 'auth'],
  ER_DBACCESS_DENIED_ERROR: ['fail-now', 'auth'],
  ER_BAD_DB_ERROR: ['fail-now', 'sql'],
};

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_)/;

function codeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function classifyError(err: unknown): CheckOutcome {
  const code = codeOf(err);
  const name = (err as { name?: unknown })?.name;
  const detail = err instanceof Error ? err.message : String(err);
  if (code !== undefined) {
    const known = BY_CODE[code];
    if (known) return { status: known[0], reason: known[1], detail };
    if (TLS_CODES.test(code)) return { status: 'fail-now', reason: 'tls', detail };
    if (code.startsWith('ER_')) return { status: 'fail-now', reason: 'sql', detail };
    if (code.startsWith('HPE_')) return { status: 'fail', reason: 'protocol', detail };
  } else if ((err as { fatal?: unknown })?.fatal === true) {
    // mysql2 marks errors that kill the connection `fatal`; some (a closed connection) carry no code.
    return { status: 'fail', reason: 'reset', detail };
  }
  // The answer is not valid HTTP (HPE_* above is llhttp's code; undici 7 leaves it unset, so its
  // class name is what is stable). `fail`, not `fail-now`: a garbled response may be a one-off.
  if (name === 'HTTPParserError') return { status: 'fail', reason: 'protocol', detail };
  if (name === 'TimeoutError' || name === 'AbortError') return { status: 'fail', reason: 'timeout', detail };
  return { status: 'fail', reason: 'error', detail };
}
