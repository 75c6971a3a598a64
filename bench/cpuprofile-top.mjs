// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package, and
// the inclusive time of the named functions. Used for bench/README-checkers.md; not part of vigil.
//
//   node bench/cpuprofile-top.mjs FILE.cpuprofile [--top 25] [--probes N] [--incl name,name]
// --probes N adds µs per probe (profile time / N); --incl matches "function file" substrings.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, probes: { type: 'string' }, incl: { type: 'string', default: '' } },
});
const [file] = positionals;
if (!file) throw new Error('usage: cpuprofile-top.mjs FILE.cpuprofile [--top 25] [--probes N] [--incl name,name]');
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, { ...n, self: 0 }]));
profile.samples.forEach((id, i) => (byId.get(id).self += profile.timeDeltas[i] ?? 0));
const parent = new Map();
for (const n of byId.values()) for (const c of n.children ?? []) parent.set(c, n.id);

const short = (url) => url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');
const where = ({ url, lineNumber }) => (url ? `${short(url)}:${lineNumber + 1}` : '');
const label = (n) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame)}`.trim();
function area(url, name) {
  // Frames without a script: V8 itself, or C++ bindings (socket syscalls: connect, write, close).
  if (!url) return name === '(garbage collector)' || name === '(program)' ? name : 'native bindings / builtins';
  if (url.startsWith('node:')) return 'node core';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const d = /\/dist\/([^/]+)/.exec(url);
  return d ? `vigil ${d[1]}/` : url;
}

// The profiler's own start/stop (Session.post from bench/checkers.ts) is not the probes' cost.
for (const n of byId.values()) {
  for (let id = n.id; id !== undefined; id = parent.get(id)) {
    if (byId.get(id).callFrame.url === 'node:inspector') {
      n.self = 0;
      break;
    }
  }
}
const total = [...byId.values()].reduce((s, n) => s + n.self, 0);
const idle = [...byId.values()].filter((n) => n.callFrame.functionName === '(idle)').reduce((s, n) => s + n.self, 0);
const busy = total - idle;
const probes = values.probes === undefined ? undefined : Number(values.probes);
const pct = (us) => `${((100 * us) / busy).toFixed(1)}%`.padStart(6) + (probes ? `${(us / probes).toFixed(1)} µs`.padStart(10) : '');
const sum = (key) => {
  const m = new Map();
  for (const n of byId.values()) if (n.callFrame.functionName !== '(idle)') m.set(key(n), (m.get(key(n)) ?? 0) + n.self);
  return [...m].sort((a, b) => b[1] - a[1]);
};

console.log(`busy ${(busy / 1000).toFixed(0)} ms (idle ${(idle / 1000).toFixed(0)} ms excluded)${probes ? `, ${(busy / probes).toFixed(1)} µs per probe` : ''}\n`);
console.log('self time by package:');
for (const [k, us] of sum((n) => area(n.callFrame.url, n.callFrame.functionName)).slice(0, 12)) console.log(`  ${pct(us)}  ${k}`);
console.log(`\ntop ${values.top} functions by self time:`);
for (const [k, us] of sum(label).slice(0, Number(values.top))) console.log(`  ${pct(us)}  ${k}`);

// Inclusive time: a sample counts once for a name found anywhere on its stack.
const names = values.incl.split(',').filter(Boolean);
if (names.length > 0) {
  console.log('\ninclusive time:');
  const incl = new Map(names.map((n) => [n, 0]));
  for (const n of byId.values()) {
    if (n.self === 0 || n.callFrame.functionName === '(idle)') continue;
    const seen = new Set();
    for (let id = n.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame;
      for (const name of names) if (!seen.has(name) && `${f.functionName} ${short(f.url)}`.includes(name)) seen.add(name);
    }
    for (const name of seen) incl.set(name, incl.get(name) + n.self);
  }
  for (const [name, us] of incl) console.log(`  ${pct(us)}  ${name}`);
}
