/** A real HTTP target in a child process (test/fixtures/http-target.mjs) that tests can stop and kill. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO } from './daemon.js';

export interface TargetProcess {
  readonly port: number;
  readonly proc: ChildProcess;
  pause(): void;
  resume(): void;
  kill(): Promise<void>;
}

export async function startHttpTarget(port = 0): Promise<TargetProcess> {
  const proc = spawn(process.execPath, [join(REPO, 'test/fixtures/http-target.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(proc.stdout!.setEncoding('utf8'), 'data')) as [string];
  const exited = once(proc, 'exit');
  return {
    port: Number(line.trim()),
    proc,
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
