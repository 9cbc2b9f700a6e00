/**
 * Two small proxies that make the network between real parts misbehave, for the duplicates test:
 *
 * - `startHttpChaosProxy` sits in front of the Kinesis endpoint. It forwards every request; for a seeded share
 *   of PutRecords calls it lets Kinesis take the records and then drops the connection instead of answering,
 *   as a lost response does — the producer cannot tell and sends the same records again. It can also hold
 *   requests back a random while, so batches overtake one another.
 * - `startTcpChaosProxy` sits in front of the MQTT broker. It delays what the broker sends (PUBACKs) and, when
 *   told, cuts a share of the connections: publishes the broker took but whose PUBACK was still on its way are
 *   sent again by the bikes after they reconnect (QoS 1 redelivery).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { LOCALHOST } from '../src/net.js';

function draw(seed: string, n: number): number {
  return createHash('sha256').update(`${seed}|${n}`).digest().readUInt32BE(0) / 2 ** 32;
}

export interface HttpChaosOptions {
  upstream: string;
  seed: string;
  /** Share of PutRecords calls whose answer is dropped after the upstream took them. */
  dropPutRecordsAnswers: number;
  /** Each request waits a random 0…this many ms before it is forwarded. */
  maxDelayMs?: number;
}

export interface RunningHttpChaos {
  url: string;
  stats(): { requests: number; putRecords: number; droppedAnswers: number };
  close(): Promise<void>;
}

export async function startHttpChaosProxy(options: HttpChaosOptions): Promise<RunningHttpChaos> {
  const agent = new http.Agent({ keepAlive: true });
  const upstream = new URL(options.upstream);
  const counters = { requests: 0, putRecords: 0, droppedAnswers: 0 };
  const server = http.createServer((req, res) => {
    counters.requests += 1;
    const n = counters.requests;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const isPut = String(req.headers['x-amz-target'] ?? '').endsWith('.PutRecords');
      if (isPut) counters.putRecords += 1;
      const drop = isPut && draw(options.seed, n) < options.dropPutRecordsAnswers;
      const delay = Math.floor(draw(`${options.seed}:delay`, n) * (options.maxDelayMs ?? 0));
      setTimeout(() => {
        const forward = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
            agent,
          },
          (answer) => {
            const body: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => body.push(chunk));
            answer.on('end', () => {
              if (drop) {
                counters.droppedAnswers += 1;
                req.socket.destroy(); // the records are in; the producer never hears it
                return;
              }
              res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(body));
            });
          },
        );
        forward.on('error', () => req.socket.destroy());
        forward.end(Buffer.concat(chunks));
      }, delay);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://${LOCALHOST}:${port}`,
    stats: () => ({ ...counters }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

export interface TcpChaosOptions {
  upstreamPort: number;
  seed: string;
  /** What the upstream sends back waits this long before it is passed on (PUBACKs in flight for longer). */
  downstreamDelayMs: number;
}

export interface RunningTcpChaos {
  url: string;
  /** Cuts this share of the open connections (seeded choice); returns how many were cut. */
  cut(share: number): number;
  stats(): { connections: number; cut: number };
  close(): Promise<void>;
}

export async function startTcpChaosProxy(options: TcpChaosOptions): Promise<RunningTcpChaos> {
  const open = new Set<{ client: net.Socket; server: net.Socket }>();
  const counters = { connections: 0, cut: 0 };
  let cuts = 0;
  const server = net.createServer((client) => {
    counters.connections += 1;
    const upstream = net.connect(options.upstreamPort, LOCALHOST);
    const pair = { client, server: upstream };
    open.add(pair);
    const end = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      setTimeout(() => {
        if (!client.destroyed) client.write(chunk);
      }, options.downstreamDelayMs);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `mqtt://${LOCALHOST}:${port}`,
    cut(share) {
      let n = 0;
      for (const pair of [...open]) {
        cuts += 1;
        if (draw(`${options.seed}:cut`, cuts) >= share) continue;
        pair.client.destroy();
        pair.server.destroy();
        open.delete(pair);
        n += 1;
      }
      counters.cut += n;
      return n;
    },
    stats: () => ({ ...counters }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of open) {
          pair.client.destroy();
          pair.server.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
