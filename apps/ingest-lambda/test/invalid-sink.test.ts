/**
 * The errors sinks: the S3 one against a local HTTP server standing for S3's PutObject (path-style
 * `PUT /{bucket}/{key}`), and the folder one the local stack uses.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type InvalidRecordReport, invalidRecordKey } from '@alleycat/schema';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, it } from 'vitest';
import { DependencyError } from '../src/errors.js';
import { DirectoryInvalidRecordSink, S3InvalidRecordSink } from '../src/invalid-sink.js';

const report: InvalidRecordReport = {
  reason: { code: 'not_json', path: '', message: 'is not JSON' },
  eventSourceARN: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
  shardId: 'shardId-000000000006',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
  subSequenceNumber: 3,
  partitionKey: '1',
  approximateArrivalTimestamp: 1545084650.987,
  dataBase64: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
  rejectedAt: '2026-11-27T14:00:00.000Z',
};

async function withS3(
  status: number,
  run: (
    client: S3Client,
    requests: Array<{ method?: string; url?: string; type?: string; body: string }>,
  ) => Promise<void>,
): Promise<void> {
  const requests: Array<{ method?: string; url?: string; type?: string; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, type: req.headers['content-type'], body });
      if (status === 200) res.writeHead(200, { etag: '"x"' }).end();
      else
        res
          .writeHead(status, { 'content-type': 'application/xml' })
          .end('<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const client = new S3Client({
    region: 'us-east-2',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  try {
    await run(client, requests);
  } finally {
    client.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('S3InvalidRecordSink', () => {
  it('puts the report as JSON under its invalid/ key', async () => {
    await withS3(200, async (client, requests) => {
      const key = invalidRecordKey(report);
      await new S3InvalidRecordSink(client, 'dev-alleycat-errors').write(key, report);
      expect(requests).toHaveLength(1);
      expect(requests[0]!.method).toBe('PUT');
      expect(decodeURIComponent(requests[0]!.url!.split('?')[0]!)).toBe(`/dev-alleycat-errors/${key}`);
      expect(key).toBe(
        'invalid/2026/11/27/shardId-000000000006/49590338271490256608559692538361571095921575989136588898-3.json',
      );
      expect(requests[0]!.type).toBe('application/json');
      expect(JSON.parse(requests[0]!.body)).toEqual(report);
    });
  });

  it('a throttled bucket is a retryable DependencyError', async () => {
    await withS3(503, async (client) => {
      const error = await new S3InvalidRecordSink(client, 'b')
        .write('invalid/x.json', report)
        .catch((e) => e);
      expect(error).toBeInstanceOf(DependencyError);
      expect((error as DependencyError).retryable).toBe(true);
    });
  });
});

describe('DirectoryInvalidRecordSink', () => {
  it('writes the same key layout under the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alleycat-sink-'));
    try {
      const key = invalidRecordKey(report);
      await new DirectoryInvalidRecordSink(dir).write(key, report);
      expect(JSON.parse(await readFile(join(dir, key), 'utf8'))).toEqual(report);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a folder that cannot be created (a file is in the way) is a DependencyError, not retryable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alleycat-sink-'));
    try {
      const blocker = join(dir, 'not-a-folder');
      await writeFile(blocker, 'x');
      const error = await new DirectoryInvalidRecordSink(blocker)
        .write('invalid/x.json', report)
        .catch((e) => e);
      expect(error).toBeInstanceOf(DependencyError);
      expect((error as DependencyError).retryable).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
