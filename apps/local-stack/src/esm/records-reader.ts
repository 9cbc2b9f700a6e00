/**
 * GetRecords for the mapping's poller, straight on Kinesis's JSON 1.1 wire. The SDK would decode every
 * record's base64 `Data` into bytes (validating it with a regular expression) only for the poller to encode it
 * back to base64 for the Lambda event: at 13 shards that round trip and the SDK's per-call work took ~22 % of
 * the poller's core. Lambda's own pollers are not SDK clients either. The other, rare calls (ListShards,
 * GetShardIterator) still go through the SDK.
 */
import http from 'node:http';
import { ENHANCED_FAN_OUT_CONSUMER_HEADER } from './enhanced-fan-out.js';
import type { StoredRecord } from './event.js';

/** A GetRecords page, with each record's data left in base64 as it travelled. */
export interface RecordsPage {
  records: StoredRecord[];
  nextShardIterator?: string;
  millisBehindLatest?: number;
}

/** An error Kinesis answered; `name` is its type (`ProvisionedThroughputExceededException`, …) like the SDK's. */
export class KinesisReadError extends Error {
  readonly statusCode: number;
  constructor(name: string, message: string, statusCode: number) {
    super(message);
    this.name = name;
    this.statusCode = statusCode;
  }
}

interface WireRecord {
  SequenceNumber: string;
  PartitionKey: string;
  Data: string;
  ApproximateArrivalTimestamp: number;
}

const TARGET = 'Kinesis_20131202.GetRecords';

export class RecordsReader {
  private readonly url: URL;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  constructor(endpoint: string) {
    this.url = new URL(endpoint);
  }

  /** `consumerArn`: read for that enhanced fan-out consumer (`enhanced-fan-out.ts` says what that changes). */
  async getRecords(shardIterator: string, limit: number, consumerArn?: string): Promise<RecordsPage> {
    const body = JSON.stringify({ ShardIterator: shardIterator, Limit: limit });
    const { status, text } = await this.post(body, consumerArn);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new KinesisReadError(`HTTP ${status}`, text.slice(0, 200), status);
    }
    if (status !== 200) {
      const type = String(parsed['__type'] ?? `HTTP ${status}`);
      throw new KinesisReadError(
        type.slice(type.lastIndexOf('#') + 1),
        String(parsed['message'] ?? parsed['Message'] ?? ''),
        status,
      );
    }
    const records = ((parsed['Records'] ?? []) as WireRecord[]).map((r) => ({
      SequenceNumber: r.SequenceNumber,
      PartitionKey: r.PartitionKey,
      Data: r.Data,
      ApproximateArrivalTimestamp: new Date(Math.round(r.ApproximateArrivalTimestamp * 1000)),
    }));
    const page: RecordsPage = { records };
    if (typeof parsed['NextShardIterator'] === 'string') page.nextShardIterator = parsed['NextShardIterator'];
    if (typeof parsed['MillisBehindLatest'] === 'number')
      page.millisBehindLatest = parsed['MillisBehindLatest'];
    return page;
  }

  close(): void {
    this.agent.destroy();
  }

  private post(body: string, consumerArn?: string): Promise<{ status: number; text: string }> {
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path: '/',
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/x-amz-json-1.1',
            'content-length': Buffer.byteLength(body),
            'x-amz-target': TARGET,
            'x-amz-date': amzDate,
            // The local endpoints check that a request is signed, not the signature.
            authorization: `AWS4-HMAC-SHA256 Credential=local/${amzDate.slice(0, 8)}/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0`,
            ...(consumerArn === undefined ? {} : { [ENHANCED_FAN_OUT_CONSUMER_HEADER]: consumerArn }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
}
