/**
 * Says when the main thread has been busy for a while: its event-loop utilisation (the share of
 * time the loop was running callbacks rather than waiting) above BUSY_UTILISATION in BUSY_SAMPLES
 * one-second samples in a row. Once it has said so it stays open. `checks.workers: auto` starts its probe
 * workers through it: a thread costs ~20 % more CPU per probe (the batches both ways) and ~45 MB,
 * worth paying only when one thread cannot keep up (bench/README.md).
 */
import { performance } from 'node:perf_hooks';

export interface BusyGate {
  /** Whether the main thread has been busy long enough (sticky). */
  open(): boolean;
  /** Takes one sample (the timer calls this every SAMPLE_MS; tests call it with a value). */
  sample(utilisation: number): void;
  close(): void;
}

export const SAMPLE_MS = 1000;
/**
 * Busy: the loop ran callbacks 90 % of the time... At 10k probes/s on the bench machine one thread
 * runs TCP at ~0.5 and fresh HTTP at ~0.8, and there it beat two workers (1.53× HAProxy at 99.7 %
 * of the due probes against 1.95× at 98.5 % for fresh HTTP); 20k TCP probes/s need the workers.
 */
export const BUSY_UTILISATION = 0.9;
/** ...for three samples in a row (a history flush or a GC alone is one). */
export const BUSY_SAMPLES = 3;

export function createBusyGate(opts: { timer?: boolean; onOpen?: (utilisation: number) => void } = {}): BusyGate {
  let run = 0;
  let opened = false;
  let timer: NodeJS.Timeout | undefined;

  const gate: BusyGate = {
    open: () => opened,
    sample(utilisation) {
      if (opened) return;
      run = utilisation > BUSY_UTILISATION ? run + 1 : 0;
      if (run < BUSY_SAMPLES) return;
      opened = true;
      clearInterval(timer);
      opts.onOpen?.(utilisation);
    },
    close() {
      clearInterval(timer);
    },
  };
  if (opts.timer !== false) {
    let last = performance.eventLoopUtilization();
    timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      gate.sample(performance.eventLoopUtilization(now, last).utilization);
      last = now;
    }, SAMPLE_MS).unref();
  }
  return gate;
}
