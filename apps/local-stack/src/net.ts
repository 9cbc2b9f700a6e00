/** Listening helpers shared by the parts: 127.0.0.1, port 0 for a free port, a clear error on a busy one. */
import type { AddressInfo, Server } from 'node:net';
import { PortInUseError } from './errors.js';

export const LOCALHOST = '127.0.0.1';

export async function listenOn(
  server: Server,
  part: string,
  port: number,
  host = LOCALHOST,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(part, port) : error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}
