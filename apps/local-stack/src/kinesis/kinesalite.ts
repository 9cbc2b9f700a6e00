/**
 * kinesalite, started in this process on its own port (the limits layer or a test fronts it). It runs
 * patched (README § kinesalite, patched): sequence numbers with BigInt, not bignumber.js.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// @ts-expect-error kinesalite ships no types
import kinesalite from 'kinesalite';
import { PortInUseError } from '../errors.js';

export interface KinesaliteOptions {
  port?: number;
  /** LevelDB folder; in memory when absent. */
  path?: string;
  /** How long a new stream stays CREATING (kinesalite's default is 500 ms; AWS takes ~30 s). */
  createStreamMs?: number;
  shardLimit?: number;
}

export interface RunningKinesalite {
  url: string;
  close(): Promise<void>;
}

export async function startKinesalite(options: KinesaliteOptions = {}): Promise<RunningKinesalite> {
  const server = (kinesalite as (o: object) => Server)({
    path: options.path,
    createStreamMs: options.createStreamMs ?? 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 200,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError('kinesalite', options.port ?? 0) : error),
    );
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  server.keepAliveTimeout = 60_000;
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
