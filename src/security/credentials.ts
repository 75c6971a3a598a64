/**
 * Named credentials from the operator's config. A checker refers to one by name (`credential:
 * orders-db`); the runner hands the secret to the checker only when the probe's target is inside
 * the credential's `hosts`, so registering an instance at some other address can never make vigil
 * send the secret there.
 */
import { BlockList, isIP } from 'node:net';
import type { Credential } from '../health/contract.js';

export interface NamedCredential extends Credential {
  /** True when the secret may be sent to `host` (an IP address or a host name). */
  allows(host: string): boolean;
}

export interface CredentialStore {
  get(name: string): NamedCredential | undefined;
  has(name: string): boolean;
  readonly names: readonly string[];
  /** What the store was built from: rebuilds it in a probe worker thread (health/probe-pool.ts). */
  readonly inputs: Readonly<Record<string, CredentialInput>>;
}

export interface CredentialInput {
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly serverPublicKey?: string | undefined;
  readonly hosts: readonly string[];
}

/** Parses `hosts` (IP, CIDR, or an exact host name); throws naming the bad entry. */
export function hostMatcher(hosts: readonly string[]): (host: string) => boolean {
  const nets = new BlockList();
  const names = new Set<string>();
  for (const h of hosts) {
    const slash = h.indexOf('/');
    if (slash >= 0) {
      const addr = h.slice(0, slash);
      const prefix = Number(h.slice(slash + 1));
      const family = isIP(addr);
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`"${h}" is not an address/prefix`);
      nets.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    } else if (isIP(h) !== 0) nets.addAddress(h, isIP(h) === 4 ? 'ipv4' : 'ipv6');
    else names.add(h.toLowerCase());
  }
  return (host) => {
    const family = isIP(host);
    if (family === 0) return names.has(host.toLowerCase());
    return nets.check(host, family === 4 ? 'ipv4' : 'ipv6');
  };
}

export function createCredentialStore(entries: Readonly<Record<string, CredentialInput>>): CredentialStore {
  const map = new Map<string, NamedCredential>();
  for (const [name, c] of Object.entries(entries)) {
    const allows = hostMatcher(c.hosts);
    map.set(name, Object.freeze({
      name,
      ...(c.user !== undefined ? { user: c.user } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.serverPublicKey !== undefined ? { serverPublicKey: c.serverPublicKey } : {}),
      allows,
    }));
  }
  return { get: (name) => map.get(name), has: (name) => map.has(name), names: [...map.keys()], inputs: entries };
}
