/**
 * A rogue MySQL server must never recover the password. The fake server below speaks just enough of
 * the protocol: a v10 handshake, an AuthSwitchRequest to the plugin under test, then the steps that
 * make a stock client give the password away (caching_sha2 "perform full authentication" with a
 * server-supplied RSA key, sha256_password with one, or mysql_clear_password). A stock mysql2
 * client is the control: the server recovers its password, so the test can tell.
 */
import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createConnection } from 'mysql2';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import mysql from '../../checkers/mysql.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { createCredentialStore } from '../../src/security/credentials.js';

const PASSWORD = 'rogue-must-not-see-9Qx';
type Plugin = 'caching_sha2_password' | 'sha256_password' | 'mysql_clear_password';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });

function packet(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
}

function handshake(scramble: Buffer): Buffer {
  const caps = 0x0001 | 0x0200 | 0x2000 | 0x8000 | 0x80000; // long password, 4.1, transactions, secure conn, plugin auth
  return Buffer.concat([
    Buffer.from([10]),
    Buffer.from('8.0.99-rogue\0'),
    Buffer.from([1, 0, 0, 0]),
    scramble.subarray(0, 8),
    Buffer.from([0, caps & 0xff, (caps >> 8) & 0xff, 0x21, 2, 0, (caps >> 16) & 0xff, (caps >> 24) & 0xff, 21]),
    Buffer.alloc(10),
    scramble.subarray(8, 20),
    Buffer.from([0]),
    Buffer.from('caching_sha2_password\0'),
  ]);
}

function unxor(data: Buffer, scramble: Buffer): string {
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i]! ^= scramble[i % scramble.length]!;
  return out.toString('utf8').replace(/\0$/, '');
}

interface Rogue {
  readonly port: number;
  /** Every byte each client sent, and whatever password the server could recover. */
  readonly received: Buffer[];
  readonly recovered: string[];
  readonly connections: number;
  /** How often a client asked for the server's public key. */
  readonly keyRequests: number;
}

async function rogue(plugin: Plugin): Promise<Rogue> {
  const state = { received: [] as Buffer[], recovered: [] as string[], connections: 0, keyRequests: 0 };
  const scramble = Buffer.from('0123456789abcdefghij');
  const server: Server = createServer((socket: Socket) => {
    state.connections++;
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let step = 0;
    socket.write(packet(0, handshake(scramble)));
    socket.on('data', (chunk: Buffer) => {
      state.received.push(chunk);
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const len = buf.readUIntLE(0, 3);
        if (buf.length < 4 + len) return;
        const seq = buf[3]!;
        const payload = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        step++;
        if (step === 1) {
          // Handshake response: switch to the plugin under test, with our scramble.
          socket.write(packet(seq + 1, Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${plugin}\0`), scramble, Buffer.from([0])])));
        } else if (plugin === 'mysql_clear_password') {
          state.recovered.push(payload.toString('utf8').replace(/\0$/, ''));
          socket.end(packet(seq + 1, Buffer.from([0x00, 0, 0, 2, 0, 0, 0])));
        } else if (plugin === 'caching_sha2_password' && step === 2) {
          socket.write(packet(seq + 1, Buffer.from([0x01, 0x04]))); // perform full authentication
        } else if (payload.length === 1 && (payload[0] === 2 || payload[0] === 1)) {
          state.keyRequests++;
          socket.write(packet(seq + 1, Buffer.concat([Buffer.from([0x01]), Buffer.from(keys.publicKey)]))); // "here is my key"
        } else if (payload.length === 256) {
          const padding = constants.RSA_PKCS1_OAEP_PADDING;
          try {
            state.recovered.push(unxor(privateDecrypt({ key: keys.privateKey, padding, oaepHash: 'sha1' }, payload), scramble));
          } catch {
            state.recovered.push('<encrypted under a key this server does not hold>');
          }
          socket.end(packet(seq + 1, Buffer.from([0x00, 0, 0, 2, 0, 0, 0])));
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    port: (server.address() as AddressInfo).port,
    get received() {
      return state.received;
    },
    get recovered() {
      return state.recovered;
    },
    get connections() {
      return state.connections;
    },
    get keyRequests() {
      return state.keyRequests;
    },
  };
}

function sawPassword(r: Rogue): boolean {
  return r.recovered.includes(PASSWORD) || Buffer.concat(r.received).includes(PASSWORD);
}

const pool = createResourcePool();
afterEach(() => pool.closeAll());

async function probe(port: number, raw: object, credentials = createCredentialStore({})) {
  return createRunner({ credentials }).run({
    checker: mysql,
    target: { host: '127.0.0.1', port, metadata: {} },
    options: parseOptions(mysql, raw),
    timeoutMs: 3000,
    resources: pool.scope('mysql'),
  });
}

/** A stock mysql2 client as an application would use it: the control. */
async function stockLogin(port: number, extra: object = {}): Promise<void> {
  const conn = createConnection({ host: '127.0.0.1', port, user: 'app', password: PASSWORD, connectTimeout: 3000, ...extra });
  await new Promise<void>((resolve) => {
    conn.on('error', () => resolve());
    conn.once('connect', () => resolve());
  });
  conn.destroy();
}

describe('mysql checker against a rogue server', () => {
  it('control: the fake server recovers the password from a stock mysql2 client (caching_sha2 full authentication)', async () => {
    const r = await rogue('caching_sha2_password');
    await stockLogin(r.port);
    expect(r.recovered).toContain(PASSWORD);
    expect(r.keyRequests).toBe(1);
  });

  it('control: the fake server recovers the password from a stock mysql2 client (sha256_password)', async () => {
    const r = await rogue('sha256_password');
    await stockLogin(r.port);
    expect(r.recovered).toContain(PASSWORD);
  });

  it.each<Plugin>(['caching_sha2_password', 'sha256_password', 'mysql_clear_password'])(
    'never lets the server see the password when it asks for %s: fail-now insecure-auth',
    async (plugin) => {
      const r = await rogue(plugin);
      const result = await probe(r.port, { user: 'app', password: PASSWORD });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'insecure-auth' });
      expect(result.detail ?? '').not.toContain(PASSWORD);
      expect(r.connections).toBe(1);
      expect(r.keyRequests).toBe(0);
      expect(sawPassword(r)).toBe(false);
    },
  );

  it('with a named credential too, and it encrypts only under the key the operator pinned', async () => {
    const r = await rogue('caching_sha2_password');
    const plain = createCredentialStore({ db: { user: 'app', password: PASSWORD, hosts: ['127.0.0.1'] } });
    expect(await probe(r.port, { credential: 'db' }, plain)).toMatchObject({ status: 'fail-now', reason: 'insecure-auth' });
    expect(sawPassword(r)).toBe(false);

    // Pinned to a key the rogue does not hold: it gets ciphertext it cannot read, and never asks for its own key to be used.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const pinned = createCredentialStore({ db: { user: 'app', password: PASSWORD, hosts: ['127.0.0.1'], serverPublicKey: other.publicKey } });
    const r2 = await rogue('caching_sha2_password');
    await probe(r2.port, { credential: 'db' }, pinned);
    expect(r2.recovered).toEqual(['<encrypted under a key this server does not hold>']);
    expect(sawPassword(r2)).toBe(false);
    expect(r2.keyRequests).toBe(0);
  });
});
