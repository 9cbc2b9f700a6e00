/**
 * The IoT data plane's publish API as the SDK calls it (`POST /topics/{topic}?qos=n`, body = payload),
 * recording what it got. `failNext` answers the next requests with a status (e.g. 503 or 429).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LeaderboardMessage } from '@alleycat/schema';

export interface PublishedMessage {
  topic: string;
  qos: string | null;
  message: LeaderboardMessage;
  /** When the server received it (ms). */
  receivedAt: number;
}

export interface IotServer {
  endpoint: string;
  published: PublishedMessage[];
  failNext(count: number, status: number): void;
  stop(): Promise<void>;
}

export async function startIotServer(): Promise<IotServer> {
  const published: PublishedMessage[] = [];
  let failures = 0;
  let failStatus = 503;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method !== 'POST' || !url.pathname.startsWith('/topics/')) {
        res.writeHead(404).end();
        return;
      }
      if (failures > 0) {
        failures--;
        res.writeHead(failStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'injected failure' }));
        return;
      }
      const topic = decodeURIComponent(url.pathname.slice('/topics/'.length));
      published.push({
        topic,
        qos: url.searchParams.get('qos'),
        message: JSON.parse(Buffer.concat(chunks).toString('utf8')) as LeaderboardMessage,
        receivedAt: Date.now(),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    published,
    failNext(count, status) {
      failures = count;
      failStatus = status;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
