/** The SDK clients' HTTP handler: a call to an endpoint that accepts and never answers fails, it does not hang. */
import net from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { requestHandler } from '../src/clients.js';

describe('requestHandler', () => {
  it('turns a request timeout into a retryable TimeoutError (the SDK alone would only warn and wait)', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const { port } = silent.address() as net.AddressInfo;
    const client = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 2,
      requestHandler: requestHandler(200),
    });
    try {
      const started = Date.now();
      const error = await client
        .send(new GetItemCommand({ TableName: 'table', Key: { pk: { S: 'x' } } }))
        .catch((e: unknown) => e as Error & { $metadata?: { attempts?: number } });
      expect((error as Error).name).toBe('TimeoutError');
      expect(error.$metadata?.attempts).toBe(2);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      client.destroy();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
