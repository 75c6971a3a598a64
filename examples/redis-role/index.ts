/**
 * Example plugin: reports a Redis server's replication role. One TCP connection per probe,
 * optional AUTH, one `INFO replication`, then `role:master` → primary and `role:slave` → replica.
 * Written only against the public contract (`vigil`), the way a third-party plugin is; see
 * docs/plugins.md for the walk-through.
 */
import net from 'node:net';
import { classifyError, defineChecker, z, type CheckOutcome, type Fact } from 'vigil';

/** A reply longer than this is not Redis answering INFO replication; stop reading. */
const MAX_REPLY_BYTES = 64 * 1024;

const options = z
  .strictObject({
    /** Sent with AUTH before INFO (`requirepass`, or the ACL user's password). A secret. */
    password: z.string().min(1).optional(),
    /** ACL user (Redis 6 and later); needs `password`. Without it AUTH uses the default user. */
    username: z.string().min(1).optional(),
    /** true: a replica answers a counted `fail` with reason `replica`; false: either role is `ok`. */
    requirePrimary: z.boolean().default(false),
  })
  .refine((o) => o.username === undefined || o.password !== undefined, {
    error: 'username needs a password',
    path: ['username'],
  });

type Options = z.output<typeof options>;

interface Reply {
  readonly error: boolean;
  readonly text: string;
}

/** Raised for bytes that are not RESP: the target is not a Redis server. */
class ProtocolError extends Error {}

/** A command as a RESP array of bulk strings. */
function encode(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** Reads one reply from the start of `buf`: the reply and its length, or undefined when incomplete. */
function readReply(buf: Buffer): { reply: Reply; length: number } | undefined {
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', 1, eol);
  switch (buf[0]) {
    case 0x2b: // '+' simple string
    case 0x3a: // ':' integer
      return { reply: { error: false, text: line }, length: eol + 2 };
    case 0x2d: // '-' error
      return { reply: { error: true, text: line }, length: eol + 2 };
    case 0x24: {
      // '$' bulk string: length, CRLF, bytes, CRLF; -1 is a null.
      const size = Number(line);
      if (!Number.isInteger(size) || size < -1) throw new ProtocolError(`bad bulk length ${JSON.stringify(line)}`);
      if (size === -1) return { reply: { error: false, text: '' }, length: eol + 2 };
      const end = eol + 2 + size;
      if (buf.length < end + 2) return undefined;
      return { reply: { error: false, text: buf.toString('utf8', eol + 2, end) }, length: end + 2 };
    }
    default:
      throw new ProtocolError(`not a Redis reply: ${JSON.stringify(buf.toString('latin1', 0, 40))}`);
  }
}

/**
 * Sends `request` and collects up to `count` replies. Settles once and removes every listener it
 * added; the caller destroys the socket. A close after some replies settles with those replies.
 */
function exchange(socket: net.Socket, request: string, count: number, signal: AbortSignal): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const replies: Reply[] = [];
    let buf = Buffer.alloc(0);
    const finish = (err?: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      socket.off('data', onData).off('error', finish).off('close', onClose);
      if (err === undefined) resolve(replies);
      else reject(err);
    };
    const onAbort = (): void => finish(signal.reason);
    const onClose = (): void =>
      replies.length > 0 ? finish() : finish(Object.assign(new Error('connection closed before a reply'), { code: 'ECONNRESET' }));
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      try {
        while (replies.length < count) {
          const next = readReply(buf);
          if (!next) break;
          replies.push(next.reply);
          buf = buf.subarray(next.length);
        }
      } catch (err) {
        return finish(err);
      }
      if (replies.length === count) finish();
      else if (buf.length > MAX_REPLY_BYTES) finish(new ProtocolError(`reply longer than ${MAX_REPLY_BYTES} bytes`));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData).on('error', finish).on('close', onClose);
    // net buffers a write made while connecting and sends it once connected.
    socket.write(request);
  });
}

/** INFO's `key:value` lines as a map. */
function fields(info: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of info.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

function errorOutcome(reply: Reply, isAuthReply: boolean): CheckOutcome {
  // NOAUTH: a password is required and none was sent; WRONGPASS (Redis 6+) or any AUTH error: it was refused.
  if (isAuthReply || /^(NOAUTH|WRONGPASS)\b/.test(reply.text)) return { status: 'fail-now', reason: 'auth', detail: reply.text };
  return { status: 'fail', reason: 'error', detail: reply.text };
}

function verdict(replies: readonly Reply[], o: Options): CheckOutcome {
  const authed = o.password !== undefined;
  const failed = replies.findIndex((r) => r.error);
  const bad = replies[failed];
  if (bad) return errorOutcome(bad, authed && failed === 0);
  const info = replies[authed ? 1 : 0];
  if (!info) return { status: 'fail', reason: 'reset', detail: 'connection closed before the INFO reply' };

  const f = fields(info.text);
  const role = f.get('role');
  if (role !== 'master' && role !== 'slave') {
    return { status: 'fail-now', reason: 'protocol', detail: `INFO replication reports role ${JSON.stringify(role ?? null)}` };
  }
  if (role === 'master') {
    const detail = `primary with ${f.get('connected_slaves') ?? '0'} connected replica(s)`;
    return { status: 'ok', reason: 'primary', detail, facts: { role: 'primary' } };
  }

  const facts: Record<string, Fact> = { role: 'replica' };
  const detail = `replica of ${f.get('master_host') ?? '?'}:${f.get('master_port') ?? '?'}, link ${f.get('master_link_status') ?? 'unknown'}`;
  if (o.requirePrimary) return { status: 'fail', reason: 'replica', detail, facts };
  return { status: 'ok', reason: 'replica', detail, facts };
}

export default defineChecker({
  type: 'redis-role',
  description: 'Reports a Redis server’s replication role (primary or replica) from INFO replication',
  secretOptions: ['password'],
  options,
  async check({ target, options: o, signal }) {
    const commands: string[] = [];
    if (o.password !== undefined) {
      commands.push(o.username === undefined ? encode('AUTH', o.password) : encode('AUTH', o.username, o.password));
    }
    commands.push(encode('INFO', 'replication'));

    // One attempt to one address (no happy-eyeballs race). No signal goes to net.connect:
    // exchange() owns abort handling, and this listener stays until the socket is destroyed so a
    // late 'error' can never go unhandled and crash the daemon.
    const socket = net.connect({ host: target.host, port: target.port, autoSelectFamily: false, noDelay: true });
    socket.on('error', () => {});
    try {
      return verdict(await exchange(socket, commands.join(''), commands.length, signal), o);
    } catch (err) {
      if (signal.aborted) {
        return { status: 'fail', reason: 'timeout', detail: socket.connecting ? 'connect timed out' : 'no reply in time' };
      }
      if (err instanceof ProtocolError) return { status: 'fail-now', reason: 'protocol', detail: err.message };
      return classifyError(err); // ECONNREFUSED → fail-now refused, ECONNRESET → fail reset, …
    } finally {
      socket.destroy();
    }
  },
});
