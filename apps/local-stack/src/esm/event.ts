/**
 * The shapes Lambda's Kinesis event source mapping produces: the invocation event, the context object, and
 * the on-failure destination record. Pure.
 */
import { randomUUID } from 'node:crypto';

export interface StoredRecord {
  SequenceNumber: string;
  PartitionKey: string;
  /** The record's bytes in base64, as GetRecords carries them (and the Lambda event passes them on). */
  Data: string;
  ApproximateArrivalTimestamp: Date;
}

export interface KinesisEventRecord {
  kinesis: {
    kinesisSchemaVersion: '1.0';
    partitionKey: string;
    sequenceNumber: string;
    data: string;
    approximateArrivalTimestamp: number;
  };
  eventSource: 'aws:kinesis';
  eventVersion: '1.0';
  eventID: string;
  eventName: 'aws:kinesis:record';
  invokeIdentityArn: string;
  awsRegion: string;
  eventSourceARN: string;
}

export interface KinesisEvent {
  Records: KinesisEventRecord[];
}

export interface SourceIdentity {
  streamArn: string;
  region: string;
  /** The function's execution role (`invokeIdentityArn`). */
  roleArn: string;
}

export function toEventRecord(
  record: StoredRecord,
  shardId: string,
  source: SourceIdentity,
): KinesisEventRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey,
      sequenceNumber: record.SequenceNumber,
      data: record.Data,
      // Seconds with millisecond precision, as Lambda sends it.
      approximateArrivalTimestamp: record.ApproximateArrivalTimestamp.getTime() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: source.roleArn,
    awsRegion: source.region,
    eventSourceARN: source.streamArn,
  };
}

/** Bytes of the serialized event, for Lambda's 6 MB synchronous payload limit. */
export function eventRecordBytes(record: KinesisEventRecord): number {
  return Buffer.byteLength(JSON.stringify(record)) + 1;
}

export interface FunctionIdentity {
  functionName: string;
  functionArn: string;
  memoryMb: number;
  timeoutSeconds: number;
}

/** The Lambda context object (Node.js runtime), with a real remaining-time clock. */
export function lambdaContext(fn: FunctionIdentity, deadlineMs: number, now: () => number = Date.now) {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: fn.functionArn,
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `${new Date(now()).toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export type OnFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/** What Lambda sends to a Kinesis mapping's on-failure destination (shard and sequence range, not the data). */
export interface OnFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: OnFailureCondition;
    approximateInvokeCount: number;
  };
  responseContext: {
    statusCode: number;
    executedVersion: string;
    /** Absent when the records were never invoked (they aged out first). */
    functionError?: string;
  };
  version: '1.0';
  timestamp: string;
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

export function onFailureRecord(args: {
  records: readonly StoredRecord[];
  shardId: string;
  streamArn: string;
  functionArn: string;
  condition: OnFailureCondition;
  invokeCount: number;
  functionError?: string;
  nowMs: number;
}): OnFailureRecord {
  const first = args.records[0]!;
  const last = args.records[args.records.length - 1]!;
  return {
    requestContext: {
      requestId: randomUUID(),
      functionArn: args.functionArn,
      condition: args.condition,
      approximateInvokeCount: args.invokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      ...(args.functionError === undefined ? {} : { functionError: args.functionError }),
    },
    version: '1.0',
    timestamp: new Date(args.nowMs).toISOString(),
    KinesisBatchInfo: {
      shardId: args.shardId,
      startSequenceNumber: first.SequenceNumber,
      endSequenceNumber: last.SequenceNumber,
      approximateArrivalOfFirstRecord: first.ApproximateArrivalTimestamp.toISOString(),
      approximateArrivalOfLastRecord: last.ApproximateArrivalTimestamp.toISOString(),
      batchSize: args.records.length,
      streamArn: args.streamArn,
    },
  };
}

/** Where a handler's `batchItemFailures` tells the mapping to resume, per Lambda's rules. */
export type BatchVerdict =
  | { kind: 'success' }
  | { kind: 'partial'; resumeIndex: number }
  | { kind: 'failure'; reason: string };

/**
 * Reads a handler's response. With ReportBatchItemFailures, the lowest reported sequence number is where
 * processing resumes; an empty, null or unknown `itemIdentifier` fails the whole batch (as Lambda does).
 * Without it, any returned value is success.
 */
export function interpretResponse(
  response: unknown,
  batch: readonly StoredRecord[],
  reportBatchItemFailures: boolean,
): BatchVerdict {
  if (!reportBatchItemFailures || response === undefined || response === null) return { kind: 'success' };
  if (typeof response !== 'object') return { kind: 'success' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return { kind: 'failure', reason: 'batchItemFailures is not an array' };
  if (failures.length === 0) return { kind: 'success' };
  let resumeIndex = Number.POSITIVE_INFINITY;
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    const index = typeof id === 'string' && id !== '' ? batch.findIndex((r) => r.SequenceNumber === id) : -1;
    if (index < 0)
      return {
        kind: 'failure',
        reason: `batchItemFailures names an unknown itemIdentifier ${JSON.stringify(id)}`,
      };
    resumeIndex = Math.min(resumeIndex, index);
  }
  return { kind: 'partial', resumeIndex };
}
