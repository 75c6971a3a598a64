// SSE readers for bench/observe.ts, in their own process so that reading does not starve the load
// generator: `node sse-clients.mjs URL N`; prints "ready" when all are connected, and the number of
// frames received when its stdin closes.
import http from 'node:http';

const [url, n] = [process.argv[2], Number(process.argv[3])];
let frames = 0;
let ready = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: n });
for (let i = 0; i < n; i++) {
  http.get(url, { agent }, (res) => {
    if (++ready === n) process.stdout.write('ready\n');
    res.on('data', (chunk) => {
      for (let k = chunk.indexOf(10); k >= 0; k = chunk.indexOf(10, k + 1)) if (chunk[k + 1] === 10) frames++;
    });
    res.on('error', () => {});
  }).on('error', () => {});
}
process.stdin.on('end', () => {
  process.stdout.write(`${frames}\n`);
  process.exit(0);
});
process.stdin.resume();
