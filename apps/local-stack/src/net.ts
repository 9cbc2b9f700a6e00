/** Listening helpers shared by the parts: 127.0.0.1, port 0 for a free port, a clear error on a busy one. */
import { type AddressInfo, createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
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

/**
 * Fails with `PortInUseError` naming the first fixed port (not 0) that another process holds, by binding and
 * releasing each: a stack that cannot start finds out before it touches anything, such as a running stack's
 * checkpoints in the same data folder. A port taken between this check and the part's own bind still fails there.
 */
export async function assertPortsFree(
  ports: readonly (readonly [part: string, port: number])[],
): Promise<void> {
  for (const [part, port] of ports) {
    if (port === 0) continue;
    const probe = createServer();
    await listenOn(probe, part, port);
    await closeServer(probe);
  }
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * Reads a new connection's first bytes until `decide` can tell what the connection is (undefined: not yet),
 * then calls `done` once with the verdict and the bytes read, which the caller puts back (`unshift`) for
 * whoever reads the connection next. A stream that ends or fails first is destroyed; `done` is not called.
 */
export function sniffHead<T>(
  stream: Duplex,
  decide: (head: Buffer) => T | undefined,
  done: (verdict: T, head: Buffer) => void,
): void {
  let head: Buffer = Buffer.alloc(0);
  const finish = (verdict: T) => {
    stream.off('readable', onReadable);
    stream.off('end', onEnd);
    stream.off('error', onError);
    done(verdict, head);
  };
  const onEnd = () => {
    stream.off('readable', onReadable);
    stream.destroy();
  };
  // A reset before the first bytes arrive must not become an uncaught 'error'.
  const onError = () => stream.destroy();
  const onReadable = () => {
    for (;;) {
      const chunk: Buffer | null = stream.read();
      if (chunk === null) return;
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const verdict = decide(head);
      if (verdict !== undefined) return finish(verdict);
    }
  };
  stream.on('readable', onReadable);
  stream.once('end', onEnd);
  stream.on('error', onError);
}
