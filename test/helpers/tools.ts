/**
 * `describe` for tests that need a program from a Debian package (promtool, chromium). Without it
 * the block is skipped with the package to install; under CI (helpers/ci.ts) the file fails instead, so CI
 * never passes by skipping (.ci/run installs the packages).
 */
import { execFileSync } from 'node:child_process';
import { describe } from 'vitest';
import { inCI } from './ci.js';

export function hasBinary(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function describeWithBinary(binary: string, debianPackage: string, name: string, fn: () => void): void {
  if (hasBinary(binary)) {
    describe(name, fn);
    return;
  }
  const why = `${binary} not found on PATH`;
  if (inCI()) throw new Error(`${name}: ${why}; CI=true requires these tests to run (apt-get install ${debianPackage})`);
  console.warn(`[${binary}] skipping "${name}": ${why}. Enable with: apt-get install ${debianPackage}`);
  describe.skip(`${name} (skipped: apt-get install ${debianPackage} to enable)`, fn);
}

/** A seeded pseudo-random sequence (mulberry32): the same inputs every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
