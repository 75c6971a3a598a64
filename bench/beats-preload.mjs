// Loaded into the vigil process by bench/beats.ts (node --expose-gc --import this file): on
// SIGUSR2 it collects garbage twice and prints the process's memory, so the benchmark measures
// live memory rather than garbage the collector has not reached yet. Not part of vigil.
import v8 from 'node:v8';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
  process.stderr.write(`vigil-bench-memory ${JSON.stringify({ ...process.memoryUsage(), spaces })}\n`);
});
