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

/**
 * A listener whose accept queue is full, in a stopped child process: the kernel drops further
 * SYNs, so a connect to it hangs (retransmits) instead of completing or being refused — a real
 * target that never answers a TCP handshake, on loopback. `hang()` fills the queue.
 */
export async function startFullListener(): Promise<TargetProcess & { hang(): Promise<void> }> {
  const script = "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))";
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(proc.stdout!.setEncoding('utf8'), 'data')) as [string];
  const exited = once(proc, 'exit');
  const port = Number(line.trim());
  const fillers: import('node:net').Socket[] = [];
  proc.kill('SIGSTOP');
  return {
    port,
    proc,
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    async hang() {
      const { connect } = await import('node:net');
      // Linux holds backlog + 1 completed handshakes in the accept queue; once full, SYNs are dropped.
      for (let i = 0; i < 2; i++) {
        const s = connect(port, '127.0.0.1').on('error', () => {});
        fillers.push(s);
        await once(s, 'connect');
      }
    },
    async kill() {
      for (const s of fillers) s.destroy();
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
