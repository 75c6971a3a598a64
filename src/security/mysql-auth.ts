/**
 * MySQL authentication that never hands a password to a server able to read it. caching_sha2 and
 * sha256 "full authentication" over plain TCP encrypt the password with an RSA key the server
 * supplies, so a rogue server recovers it in clear; mysql_clear_password sends it as it is. vigil
 * sends a password that way only under a key the operator pinned (`serverPublicKey` of a named
 * credential); otherwise the connection ends with reason `insecure-auth`. The scramble-based
 * steps (mysql_native_password, caching_sha2's fast path) reveal nothing and stay allowed.
 */
import { authPlugins as stock } from 'mysql2';
import { createHash } from 'node:crypto';

/** Marks an error thrown here; mysql2 overwrites `code` on errors from auth plugins but keeps the object. */
export const INSECURE_AUTH = Symbol.for('vigil.mysql.insecure-auth');

function insecure(plugin: string): Error {
  const err = new Error(`the server asked for ${plugin} full authentication, which would reveal the password to it; pin its RSA key (credential serverPublicKey) or use mysql_native_password`);
  return Object.assign(err, { [INSECURE_AUTH]: true });
}

export function isInsecureAuth(err: unknown): boolean {
  const e = err as { [INSECURE_AUTH]?: unknown; code?: unknown } | undefined;
  return e?.[INSECURE_AUTH] === true || e?.code === 'MYSQL_CLEAR_PASSWORD_NOT_ENABLED';
}

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/** caching_sha2's scramble token: SHA256(p) XOR SHA256(SHA256(SHA256(p)), scramble). */
function scrambleToken(password: string, scramble: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const s1 = sha256(Buffer.from(password));
  const s3 = sha256(Buffer.concat([sha256(s1), scramble]));
  for (let i = 0; i < s1.length; i++) s1[i]! ^= s3[i]!;
  return s1;
}

type Plugin = (ctx: { connection: { config: { password?: string } } }) => (data: Buffer) => Buffer | null;

/** caching_sha2_password without a pinned key: the fast path only. */
const cachingSha2FastOnly: Plugin = ({ connection }) => {
  let sent = false;
  return (data) => {
    if (!sent) {
      sent = true;
      return scrambleToken(connection.config.password ?? '', data.subarray(0, 20));
    }
    if (data.length === 1 && data[0] === 3) return null; // fast authentication succeeded
    throw insecure('caching_sha2_password');
  };
};

const refuse = (plugin: string): Plugin => () => () => {
  throw insecure(plugin);
};

/** `authPlugins` for mysql2's connection options. */
export function safeAuthPlugins(serverPublicKey: string | undefined): Record<string, unknown> {
  if (serverPublicKey !== undefined) {
    // The stock plugins encrypt with the key they are given and never ask the server for one.
    return {
      caching_sha2_password: stock.caching_sha2_password({ serverPublicKey }),
      sha256_password: stock.sha256_password({ serverPublicKey }),
    };
  }
  return { caching_sha2_password: cachingSha2FastOnly, sha256_password: refuse('sha256_password') };
}
