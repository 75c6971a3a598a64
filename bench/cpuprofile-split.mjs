// Splits a V8 .cpuprofile of the vigil side of bench/haproxy.ts (`--vigil-node-args=--cpu-prof`)
// into the probe path's parts: samples under start-up (seeding the store, loading modules) are set
// aside, the rest ("steady") is split by where the self time falls. Async start-up work (loading the
// store into the registry) has no start-up frame on its stack and stays in "steady".
//
//   node bench/cpuprofile-split.mjs FILE.cpuprofile
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, { ...n, self: 0 }]));
p.samples.forEach((id, i) => (byId.get(id).self += p.timeDeltas[i] ?? 0));
const parent = new Map();
for (const n of byId.values()) for (const c of n.children ?? []) parent.set(c, n.id);
const startup = /haproxy-vigil\.js|wrapSafe|compileSourceTextModule|compileForInternalLoader|loadESM|ModuleLoader|moduleStrategy|importModuleDynamically/;
const cats = new Map();
const add = (k, v) => cats.set(k, (cats.get(k) ?? 0) + v);
let busy = 0;
for (const n of byId.values()) {
  const f = n.callFrame;
  if (f.functionName === '(idle)' || n.self === 0) continue;
  busy += n.self;
  let st = false;
  for (let id = n.id; id !== undefined; id = parent.get(id)) { const g = byId.get(id).callFrame; if (startup.test(g.url) || startup.test(g.functionName) || /cjs\/loader|esm\//.test(g.url)) { st = true; break; } }
  if (st) { add('start-up (seeding the store, loading modules)', n.self); continue; }
  const u = f.url;
  let c;
  if (/fast-connect|tcp-handle|half-open|http1-raw/.test(u)) c = 'connect, exchange + reset on the TCP handle (syscalls and libuv)';
  else if (f.functionName === '(garbage collector)') c = 'garbage collector';
  else if (/health\/runner|health\/deadlines|health\/cancel/.test(u)) c = 'runner (flight, deadlines, result)';
  else if (/health\/(scheduler|probe-gate|timing-wheel|schedule|state-machine|whitelist|lag-histogram)/.test(u) || /p-limit|yocto/.test(u)) c = 'scheduler (tick, caps, wheel, state machine)';
  else if (/registry\//.test(u)) c = 'registry (peek, recordProbe)';
  else if (/observe\/|primaries\//.test(u)) c = 'observers (history, metrics, primaries)';
  else if (/better-sqlite3|sqlite-store/.test(u)) c = 'SQLite (after start-up)';
  else if (/checkers\//.test(u)) c = 'tcp checker';
  else if (/^node:/.test(u)) c = 'node core (promises, timers, events)';
  else if (!u) c = f.functionName === '(program)' ? '(program)' : 'native / builtins';
  else c = 'other: ' + u.replace(/.*node_modules\//, '').split('/')[0];
  add(c, n.self);
}
const steady = busy - (cats.get('start-up (seeding the store, loading modules)') ?? 0);
console.log(`busy ${(busy/1e3).toFixed(0)} ms, steady ${(steady/1e3).toFixed(0)} ms`);
for (const [k, v] of [...cats].sort((a, b) => b[1] - a[1])) console.log(`${(100*v/busy).toFixed(1).padStart(5)}% of busy  ${k.startsWith('start-up') ? '' : (100*v/steady).toFixed(1).padStart(5)+'% of steady'}  ${k}`);
