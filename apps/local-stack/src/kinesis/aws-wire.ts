/**
 * The Kinesis wire formats. Every client sends `X-Amz-Target: Kinesis_20131202.<Operation>` and one of two
 * bodies: AWS JSON 1.1 (`application/x-amz-json-1.1`: the AWS SDK v3 for JavaScript, the AWS CLI, boto3) or
 * AWS CBOR (`application/x-amz-cbor-1.1`: the AWS SDK for Java v1/v2, the KCL and the KPL by default; see
 * `cbor-wire.ts`). Both carry the same params and answers; only the encoding differs.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { decodeCborParams, encodeCborAnswer } from './cbor-wire.js';

export const AMZ_JSON = 'application/x-amz-json-1.1';
export const AMZ_CBOR = 'application/x-amz-cbor-1.1';
export const TARGET_PREFIX = 'Kinesis_20131202.';

/** The body encodings a Kinesis client may speak. */
export type WireFormat = 'json' | 'cbor';

/** The wire format a content type names, or undefined for anything else (kinesalite answers those). */
export function wireFormatOf(contentType: string): WireFormat | undefined {
  if (contentType === AMZ_JSON) return 'json';
  if (contentType === AMZ_CBOR) return 'cbor';
  return undefined;
}

export function contentTypeFor(format: WireFormat): string {
  return format === 'json' ? AMZ_JSON : AMZ_CBOR;
}

/**
 * A request body as JSON-shaped params (blobs as base64, timestamps as epoch seconds), whatever the format it
 * came in; undefined when it is not one object (kinesalite then answers `SerializationException`).
 */
export function decodeParams(format: WireFormat, body: Buffer): Record<string, unknown> | undefined {
  if (format === 'cbor') return decodeCborParams(body);
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    return parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A JSON-shaped answer in the client's format. */
export function encodeAnswer(format: WireFormat, value: unknown): Buffer {
  return format === 'json' ? Buffer.from(JSON.stringify(value)) : encodeCborAnswer(value);
}

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
  return parseStreamArn(arn)?.name;
}

/** A stream's ARN → its region, account and name (AWS's pattern: `arn:aws.*:kinesis:.*:\d{12}:stream/\S+`). */
export function parseStreamArn(arn: string): { region: string; account: string; name: string } | undefined {
  const match = /^arn:aws[a-z-]*:kinesis:([^:]*):(\d{12}):stream\/([a-zA-Z0-9_.-]{1,128})$/.exec(arn);
  return match === null ? undefined : { region: match[1]!, account: match[2]!, name: match[3]! };
}

/** The error AWS answers with (HTTP 400), in either format: `{ __type, message }`. */
export function errorBody(format: WireFormat, type: string, message: string): Buffer {
  return encodeAnswer(format, { __type: type, message });
}

/**
 * The `x-amzn-ErrorType` header value for an error type. The AWS SDK for Java (JSON and CBOR alike) takes the
 * error code from this header before the body's `__type` (its JsonErrorCodeParser, up to the first `:`); SDK v3
 * reads `__type` first and the header after it.
 */
export function errorTypeHeader(type: string): string {
  return `${type}:`;
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
