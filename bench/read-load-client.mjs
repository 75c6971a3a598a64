// The read-load benchmark's well-behaved clients, in their own process so their CPU and event loop
// are not vigil's: registers and beats `count` ephemeral instances every 5 s (light beats, as the
// npm client sends after its first), and samples /healthz every 100 ms. Reads commands on stdin:
// `phase NAME` tags the samples that follow; `report` prints per-phase figures as one JSON line.
import { createInterface } from 'node:readline';

const [url, count = '200'] = process.argv.slice(2);
const N = Number(count);
const base = `${url}/nacos/v1/ns`;
let phase = 'warmup';
const samples = {};
const beatFailures = {};

const q = (o) => new URLSearchParams(o).toString();
for (let i = 0; i < N; i++) {
  const res = await fetch(`${base}/instance?${q({ serviceName: 'DEFAULT_GROUP@@beaters', ip: `127.3.0.${1 + (i % 250)}`, port: String(20000 + i), ephemeral: 'true' })}`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`register answered ${res.status}`);
}
for (let i = 0; i < N; i++) {
  // Spread the beats over the 5 s interval, as real clients' start times are.
  setTimeout(() => {
    const beat = async () => {
      try {
        const res = await fetch(`${base}/instance/beat?${q({ serviceName: 'DEFAULT_GROUP@@beaters', ip: `127.3.0.${1 + (i % 250)}`, port: String(20000 + i) })}`, { method: 'PUT' });
        await res.text();
        if (res.status !== 200) beatFailures[phase] = (beatFailures[phase] ?? 0) + 1;
      } catch {
        beatFailures[phase] = (beatFailures[phase] ?? 0) + 1;
      }
    };
    void beat();
    setInterval(beat, 5000);
  }, (5000 * i) / N);
}
const sample = async () => {
  const t = performance.now();
  const res = await fetch(`${url}/healthz`);
  await res.text();
  (samples[phase] ??= []).push(performance.now() - t);
  setTimeout(sample, 100);
};
void sample();

const quantile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
};
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'phase') phase = arg;
  if (cmd === 'report') {
    const out = {};
    for (const [k, xs] of Object.entries(samples)) out[k] = { n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs) };
    process.stdout.write(`${JSON.stringify({ healthz: out, beatFailures })}\n`);
  }
});
process.stdout.write('ready\n');
