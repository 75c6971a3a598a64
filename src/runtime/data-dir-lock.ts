/**
 * One daemon per data directory: two processes writing one SQLite store would each believe their
 * memory is the truth. `vigil.lock` holds the owner's pid; a lock whose pid no longer runs (the
 * owner was killed with -9) is taken over. The check is advisory, like a pid file: it guards
 * against a second `vigil start`, not against a process that ignores it.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VigilError } from '../errors.js';

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, under another user.
    return (err as { code?: string }).code === 'EPERM';
  }
};

function ownerOf(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function lockDataDir(dataDir: string, pid = process.pid, running: (pid: number) => boolean = isRunning): DataDirLock {
  const file = join(dataDir, 'vigil.lock');
  mkdirSync(dataDir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST' || attempt > 0) {
        throw new VigilError('VIGIL_ERR_DATA_DIR_LOCKED', `cannot lock ${dataDir}: ${(err as Error).message}`, 'store.dataDir', { cause: err });
      }
      const owner = ownerOf(file);
      if (owner !== undefined && owner !== pid && running(owner)) {
        throw new VigilError('VIGIL_ERR_DATA_DIR_LOCKED', `data directory ${dataDir} is in use by vigil pid ${owner} (${file})`, 'store.dataDir');
      }
      unlinkSync(file); // stale: its owner is gone
    }
  }
  return {
    file,
    release() {
      if (ownerOf(file) === pid) unlinkSync(file);
    },
  };
}
