/** `promtool check metrics` and reading one sample out of a scrape, for the /metrics tests. */
import { spawn } from 'node:child_process';

/** Runs `promtool check metrics` on the text; resolves with its exit code and what it printed. */
export function promtool(text: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end(text);
  });
}

/** The value of one sample line, e.g. `vigil_probes_total{checker="tcp",result="ok"}`. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
