// Loopback TCP targets for benchmarks, in their own process so their CPU is not counted against
// vigil's. Listens on `count` ports on the IPv4 wildcard so every 127.x.y.z address answers
// (only loopback addresses are ever probed). Prints the ports as JSON on one line.
import { createServer } from 'node:net';

const count = Number(process.argv[2] ?? 20);
const ports = [];
for (let i = 0; i < count; i++) {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.destroy();
  });
  server.on('error', () => {});
  await new Promise((resolve) => server.listen({ port: 0, host: '0.0.0.0', backlog: 4096 }, resolve));
  ports.push(server.address().port);
}
process.stdout.write(`${JSON.stringify(ports)}\n`);
