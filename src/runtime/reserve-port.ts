/**
 * Binds the API's address before anything is opened, so a taken port ends start-up with one clear
 * line before the store is touched. The placeholder is released just before the API listens on the
 * same port (the port it got, when 0 asked for any).
 */
import { createServer } from 'node:net';
import { VigilError } from '../errors.js';

export interface PortReservation {
  readonly port: number;
  release(): Promise<void>;
}

export function reservePort(host: string, port: number): Promise<PortReservation> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === 'EADDRINUSE' ? 'VIGIL_ERR_API_PORT_IN_USE' : 'VIGIL_ERR_CONFIG_INVALID';
      const why = err.code === 'EADDRINUSE' ? 'is in use by another process' : `cannot be bound: ${err.message}`;
      reject(new VigilError(code, `the API address ${host}:${port} ${why}`, 'api.port', { cause: err }));
    });
    server.listen({ host, port, exclusive: true }, () => {
      const bound = (server.address() as { port: number }).port;
      resolve({ port: bound, release: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}
