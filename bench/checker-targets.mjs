// Loopback targets for bench/checkers.ts, in their own process so their CPU is not counted against
// the probing side: a TCP listener that accepts and closes, and a plain node:http server answering
// 200 'ok' with keep-alive on. Both bind 127.0.0.1 only. Prints {"tcp":port,"http":port} on one line
// and exits when its stdin closes.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';

const listen = (server) =>
  new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve(server.address().port)));

const tcp = createTcpServer((socket) => {
  socket.on('error', () => {});
  socket.destroy();
});
tcp.on('error', () => {});

// Keep idle sockets far longer than any pause in the benchmark, so keep-alive is never cut by us.
const http = createHttpServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
  res.end('ok');
});
http.on('clientError', (err, socket) => socket.destroy());

process.stdout.write(`${JSON.stringify({ tcp: await listen(tcp), http: await listen(http) })}\n`);

// The benchmark holds our stdin open; when it ends, however it ended (even SIGKILL), so do we.
process.stdin.on('end', () => process.exit(0)).resume();
