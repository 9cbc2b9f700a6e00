/**
 * A Kinesis client that speaks AWS CBOR the way the AWS SDK for Java v2 does by default (that SDK cannot be
 * installed here, and SDK v3 for JavaScript speaks only JSON 1.1):
 *
 * - `POST /` with `Content-Type: application/x-amz-cbor-1.1` and `X-Amz-Target: Kinesis_20131202.<Operation>`;
 * - Jackson's CBOR generator: maps and arrays of indefinite length (0xBF…0xFF, 0x9F…0xFF), text and byte
 *   strings of definite length, integers in their shortest form, other numbers as float64;
 * - blobs (`Data`) as byte strings; timestamps (`Date` here) as tag 1 holding epoch milliseconds
 *   (`SdkCborGenerator.writeValue(Instant)` → `writeTag(1)`, `writeNumber(toEpochMilli())`);
 * - answers read back the same way: tag 1 as epoch milliseconds (payload timestamps are UNIX_TIMESTAMP_MILLIS
 *   in the SDK's CBOR protocol factory), and an error's code from `x-amzn-ErrorType` (up to `:`) before
 *   the body's `__type`, its message from `message`.
 *
 * The request encoder is written out here on purpose, so it does not share code with the layer's decoder.
 */
import http from 'node:http';
import cbor from 'cbor';

export const AMZ_CBOR = 'application/x-amz-cbor-1.1';

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** An error answer, as the Java SDK would surface it (`AwsServiceException`: error code, message, status). */
export class KinesisCborError extends Error {
  readonly status: number;
  readonly errorCode: string | undefined;
  constructor(status: number, errorCode: string | undefined, message: string) {
    super(message);
    this.name = errorCode ?? 'UnknownError';
    this.status = status;
    this.errorCode = errorCode;
  }
}

export class JavaStyleCborKinesis {
  private readonly endpoint: URL;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(endpoint: string) {
    this.endpoint = new URL(endpoint);
  }

  destroy(): void {
    this.agent.destroy();
  }

  /** Sends one operation; resolves with the decoded answer or rejects with `KinesisCborError`. */
  async send<T = Record<string, unknown>>(operation: string, params: Record<string, unknown>): Promise<T> {
    const answer = await this.raw(operation, encodeJavaStyle(params));
    return readAnswer(answer) as T;
  }

  /** Posts an already encoded body; the answer as it came (for checks on the bytes). */
  raw(operation: string, body: Buffer): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          hostname: this.endpoint.hostname,
          port: this.endpoint.port,
          path: '/',
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': AMZ_CBOR,
            'x-amz-target': `Kinesis_20131202.${operation}`,
            'content-length': String(body.length),
            'user-agent': 'aws-sdk-java/2.x alleycat-test',
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
}

/** Decodes an answer as the Java SDK does; throws `KinesisCborError` for 4xx/5xx. */
export function readAnswer(answer: RawAnswer): unknown {
  const contentType = answer.headers['content-type'];
  if (contentType !== AMZ_CBOR) {
    throw new Error(`expected ${AMZ_CBOR}, got ${String(contentType)}: ${answer.body.toString('utf8')}`);
  }
  const value = answer.body.length === 0 ? {} : decodeJavaStyle(answer.body);
  if (answer.status < 400) return value;
  const header = answer.headers['x-amzn-errortype'];
  const fromHeader = typeof header === 'string' ? header.split(':')[0] : undefined;
  const body = value as { __type?: string; message?: string; Message?: string };
  const code = fromHeader || body.__type?.split('#').pop();
  throw new KinesisCborError(answer.status, code, body.message ?? body.Message ?? '');
}

/** CBOR as the Java SDK reads it: tag 1 is epoch milliseconds. */
export function decodeJavaStyle(body: Buffer): unknown {
  return cbor.decodeFirstSync(body, { tags: { 1: (value: unknown) => new Date(value as number) } });
}

/** CBOR as Jackson's generator writes it for the Java SDK (see the file comment). */
export function encodeJavaStyle(value: unknown): Buffer {
  const out: number[] = [];
  write(value, out);
  return Buffer.from(out);
}

function head(major: number, length: number, out: number[]): void {
  if (length < 24) out.push((major << 5) | length);
  else if (length < 0x100) out.push((major << 5) | 24, length);
  else if (length < 0x10000) out.push((major << 5) | 25, length >> 8, length & 0xff);
  else if (length < 0x100000000) {
    out.push((major << 5) | 26, ...bytesOf(BigInt(length), 4));
  } else out.push((major << 5) | 27, ...bytesOf(BigInt(length), 8));
}

function bytesOf(n: bigint, width: number): number[] {
  const bytes: number[] = [];
  for (let i = width - 1; i >= 0; i--) bytes.push(Number((n >> BigInt(8 * i)) & 0xffn));
  return bytes;
}

function write(value: unknown, out: number[]): void {
  if (value === null) out.push(0xf6);
  else if (value === true) out.push(0xf5);
  else if (value === false) out.push(0xf4);
  else if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      if (value >= 0) head(0, value, out);
      else head(1, -1 - value, out);
    } else {
      const buffer = Buffer.alloc(8);
      buffer.writeDoubleBE(value);
      out.push(0xfb, ...buffer);
    }
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    head(3, bytes.length, out);
    for (const b of bytes) out.push(b);
  } else if (value instanceof Uint8Array) {
    head(2, value.length, out);
    for (const b of value) out.push(b);
  } else if (value instanceof Date) {
    out.push(0xc1); // tag 1
    write(value.getTime(), out);
  } else if (Array.isArray(value)) {
    out.push(0x9f);
    for (const item of value) write(item, out);
    out.push(0xff);
  } else if (typeof value === 'object') {
    out.push(0xbf);
    for (const [key, item] of Object.entries(value as object)) {
      if (item === undefined) continue;
      write(key, out);
      write(item, out);
    }
    out.push(0xff);
  } else throw new Error(`cannot encode ${typeof value}`);
}
