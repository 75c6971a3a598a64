/**
 * File descriptors are shared by the API's sockets and the probes' sockets. When clients take them
 * all, every probe fails with EMFILE and every instance looks DOWN, so vigil caps API connections
 * below the process's descriptor limit and keeps the rest for probing.
 */
import { readFileSync } from 'node:fs';

/** The soft "Max open files" limit from /proc/self/limits text; undefined when unknown or unlimited. */
export function parseFdLimit(limitsText: string): number | undefined {
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limitsText);
  if (!match || match[1] === 'unlimited') return undefined;
  return Number(match[1]);
}

/** The soft descriptor limit of this process (Linux); undefined elsewhere. */
export function readFdLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  try {
    return parseFdLimit(read());
  } catch {
    return undefined;
  }
}

/**
 * How many API connections to accept: the configured cap, lowered so that `reserved` descriptors
 * stay free for probes, the store and logs. Never below 1: an API nobody can reach helps no one.
 */
export function apiConnectionCap(maxConnections: number, fdLimit: number | undefined, reserved: number): number {
  if (fdLimit === undefined) return maxConnections;
  return Math.max(1, Math.min(maxConnections, fdLimit - reserved));
}
