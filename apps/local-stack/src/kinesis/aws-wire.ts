/**
 * The Kinesis wire format (AWS JSON 1.1), as the AWS SDK v3 and the AWS CLI speak it: both send
 * `application/x-amz-json-1.1` with `X-Amz-Target: Kinesis_20131202.<Operation>`.
 */
import type { IncomingHttpHeaders } from 'node:http';

export const AMZ_JSON = 'application/x-amz-json-1.1';
export const AMZ_CBOR = 'application/x-amz-cbor-1.1';
export const TARGET_PREFIX = 'Kinesis_20131202.';

/** The operation named by `X-Amz-Target`, or undefined. */
export function operationOf(headers: IncomingHttpHeaders): string | undefined {
  const target = headers['x-amz-target'];
  if (typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) return undefined;
  return target.slice(TARGET_PREFIX.length);
}

export function contentTypeOf(headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** `arn:aws:kinesis:<region>:<account>:stream/<name>` → `<name>`; undefined when not a stream ARN. */
export function streamNameFromArn(arn: string): string | undefined {
  const match = /^arn:aws[a-z-]*:kinesis:[^:]*:[^:]*:stream\/([a-zA-Z0-9_.-]{1,128})$/.exec(arn);
  return match?.[1];
}

/** The error body AWS JSON 1.1 services answer with (HTTP 400). */
export function errorBody(type: string, message: string): string {
  return JSON.stringify({ __type: type, message });
}

/** AWS's words for a throttled write (PutRecord error message; PutRecords per-entry `ErrorMessage`). */
export function writeThrottledMessage(shardId: string, streamName: string, accountId: string): string {
  return `Rate exceeded for shard ${shardId} in stream ${streamName} under account ${accountId}.`;
}

/** AWS's words for a throttled GetRecords call. */
export function readThrottledMessage(shardId: string, streamName: string, accountId: string): string {
  return `Rate exceeded for Shard - ${accountId}/${streamName}/${shardId}`;
}

/** Headers that let a request through kinesalite's signature-presence check (it verifies no signature). */
export function placeholderAuthHeaders(): Record<string, string> {
  const date = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return {
    authorization: `AWS4-HMAC-SHA256 Credential=local/${date.slice(0, 8)}/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=local`,
    'x-amz-date': date,
  };
}
