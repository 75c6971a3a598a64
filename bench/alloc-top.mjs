// Summarises a sampling allocation profile (bench/memory.ts --alloc-profile): bytes sampled per
// function (self), then per call path of up to four frames, largest first.
//   node bench/alloc-top.mjs /tmp/a.heapprofile [--top 25] [--depth 4]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, depth: { type: 'string', default: '4' } } });
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const depth = Number(values.depth);
const byFunction = new Map();
const byPath = new Map();
let total = 0;
const add = (map, key, n) => map.set(key, (map.get(key) ?? 0) + n);

function frameName({ functionName, url, lineNumber }) {
  return `${functionName || '(anonymous)'} ${url.replace(/^.*\/(dist|node_modules)\//, '')}:${lineNumber + 1}`;
}

// Iterative walk: profiles of deep async code overflow a recursive one.
const stack = [[profile.head, []]];
while (stack.length > 0) {
  const [node, path] = stack.pop();
  const here = [...path, frameName(node.callFrame)].slice(-depth);
  if (node.selfSize > 0) {
    total += node.selfSize;
    add(byFunction, here.at(-1), node.selfSize);
    add(byPath, [...here].reverse().join(' < '), node.selfSize);
  }
  for (const child of node.children) stack.push([child, here]);
}

const MB = 1048576;
const print = (map) => {
  for (const [key, n] of [...map].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`${(n / MB).toFixed(1).padStart(8)} MB ${key}`);
};
console.log(`sampled ${(total / MB).toFixed(1)} MB; by function:`);
print(byFunction);
console.log(`by call path (${depth} frames, innermost first):`);
print(byPath);
