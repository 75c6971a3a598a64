// Summarises a V8 heap snapshot (bench/memory.ts --snapshot): self size and count per node type and
// constructor name, largest first, so each structure's cost per instance can be read off.
//   node --max-old-space-size=8192 bench/heap-top.mjs /tmp/vigil.heapsnapshot [--top 40] [--per 100000]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' }, per: { type: 'string' } } });
const snap = JSON.parse(readFileSync(positionals[0], 'utf8'));
const { node_fields: fields, node_types: types } = snap.snapshot.meta;
const width = fields.length;
const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
const typeNames = types[0];
const groups = new Map();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = typeNames[snap.nodes[i + iType]];
  const name = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' ? snap.strings[snap.nodes[i + iName]] : '';
  const key = `${type} ${name.slice(0, 60)}`;
  const size = snap.nodes[i + iSize];
  total += size;
  const g = groups.get(key) ?? { size: 0, count: 0 };
  g.size += size;
  g.count++;
  groups.set(key, g);
}
const per = values.per ? Number(values.per) : undefined;
const rows = [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, Number(values.top));
console.log(`total self size ${(total / 1048576).toFixed(1)} MB${per ? `, ${(total / per).toFixed(0)} B per instance` : ''}`);
for (const [key, g] of rows) {
  console.log(`${(g.size / 1048576).toFixed(1).padStart(8)} MB ${String(g.count).padStart(9)} ${per ? `${(g.size / per).toFixed(0).padStart(6)} B/inst ` : ''}${key}`);
}
