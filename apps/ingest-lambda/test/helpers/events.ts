/** Builds Kinesis events in the shape Lambda delivers (AWS's documented sample event). */
import type { RaceMessage } from '@alleycat/schema';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

export const STREAM_ARN = 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream';

let sequence = 49590338271490256608559692538361571095921575989136588898n;

export function nextSequenceNumber(): string {
  sequence += 1000n;
  return sequence.toString();
}

export function kinesisRecord(
  data: Uint8Array | string,
  options: { shardId?: string; partitionKey?: string; arrivalMs?: number; sequenceNumber?: string } = {},
): KinesisStreamRecord {
  const sequenceNumber = options.sequenceNumber ?? nextSequenceNumber();
  const shardId = options.shardId ?? 'shardId-000000000006';
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: options.partitionKey ?? '1',
      sequenceNumber,
      data: typeof data === 'string' ? data : Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: (options.arrivalMs ?? 1_764_250_000_000) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
    awsRegion: 'us-east-2',
    eventSourceARN: STREAM_ARN,
  };
}

export const event = (records: KinesisStreamRecord[]): KinesisStreamEvent => ({ Records: records });

export function raceMessage(
  raceId: number,
  racerId: number,
  second: number,
  overrides: Partial<RaceMessage> = {},
): RaceMessage {
  return {
    event: 'update',
    deviceTimestamp: 1_764_250_000_000 + second * 1000,
    second,
    raceId,
    name: `Rider ${racerId}`,
    racerId,
    classId: 3,
    cadence: 60 + ((racerId * 7 + second * 13) % 90),
    resistance: 20 + ((racerId * 11 + second * 5) % 60),
    ...overrides,
  };
}

export const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value), 'utf8');

/** A record carrying one race message, arriving at `arrivalMs` (default: the second's own time). */
export function messageRecord(
  m: RaceMessage,
  options: { shardId?: string; arrivalMs?: number } = {},
): KinesisStreamRecord {
  return kinesisRecord(json(m), {
    shardId: options.shardId,
    partitionKey: String(m.racerId),
    arrivalMs: options.arrivalMs ?? m.deviceTimestamp + 150,
  });
}
