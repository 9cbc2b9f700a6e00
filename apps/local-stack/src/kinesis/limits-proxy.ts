/**
 * The Kinesis limits layer: an HTTP server in front of kinesalite that enforces what a provisioned Kinesis
 * shard enforces and kinesalite does not — 1,000 records/s and 1 MiB/s of writes (data + partition key),
 * 5 GetRecords calls/s and 2 MiB/s of reads per shard, 5 MiB per PutRecords call — and answers as AWS does:
 * PutRecords gets HTTP 200 with a per-entry `ProvisionedThroughputExceededException` for the entries over the
 * limit (only the others reach kinesalite; results are re-assembled in request order), PutRecord and GetRecords
 * get HTTP 400 with that exception. It also maps `StreamARN` to `StreamName`, which kinesalite needs.
 *
 * Both wire formats get the same treatment: a request is decoded into JSON-shaped params whether it came as
 * JSON 1.1 or CBOR, the decisions are taken on those, kinesalite is always asked in JSON, and the answer goes
 * back in the client's format. (kinesalite's own CBOR path stores a CBOR `Data` as a JSON-serialised Node
 * Buffer and answers timestamps in seconds, so it is never used.)
 *
 * Everything else (validation, stream management, storage) is kinesalite's: a JSON request this layer does not
 * need to change is forwarded byte for byte.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import {
  KINESIS_PARTITION_KEY_MAX_CHARS,
  KINESIS_PUT_RECORDS_MAX_BYTES,
  KINESIS_PUT_RECORDS_MAX_ENTRIES,
  KINESIS_RECORD_MAX_BYTES,
  KINESIS_SHARD_READ_BYTES_PER_SECOND,
  KINESIS_SHARD_READ_CALLS_PER_SECOND,
  KINESIS_SHARD_WRITE_BYTES_PER_SECOND,
  KINESIS_SHARD_WRITE_RECORDS_PER_SECOND,
} from '@alleycat/schema';
import { DEFAULT_SHARD_MAP_TTL_MS, ITERATOR_LIFETIME_MS, LOCAL_ACCOUNT_ID } from '../constants.js';
import { ENHANCED_FAN_OUT_CONSUMER_HEADER } from '../esm/enhanced-fan-out.js';
import { sniffHead } from '../net.js';
import {
  AMZ_JSON,
  contentTypeFor,
  contentTypeOf,
  decodeParams,
  encodeAnswer,
  errorBody,
  errorTypeHeader,
  operationOf,
  parseStreamArn,
  placeholderAuthHeaders,
  readThrottledMessage,
  TARGET_PREFIX,
  type WireFormat,
  wireFormatOf,
  writeThrottledMessage,
} from './aws-wire.js';
import { ConsumerRegistry, type StreamConsumer } from './consumers.js';
import {
  type AskKinesalite,
  completeStreamSummary,
  describeLimits,
  describeStream,
  type ListingResult,
  listShards,
  listStreams,
  NOT_EMULATED,
  type UpstreamAnswer,
} from './listing.js';
import {
  type DescribedShard,
  entryHashKey,
  openShardRanges,
  type ShardRange,
  shardFor,
} from './shard-map.js';
import { openSubscription } from './subscribe-to-shard.js';
import { TokenBucket } from './token-bucket.js';

export interface ShardLimits {
  writeRecordsPerSecond: number;
  writeBytesPerSecond: number;
  readCallsPerSecond: number;
  readBytesPerSecond: number;
}

/** AWS's per-shard limits for provisioned streams, from @alleycat/schema. */
export const AWS_SHARD_LIMITS: Readonly<ShardLimits> = {
  writeRecordsPerSecond: KINESIS_SHARD_WRITE_RECORDS_PER_SECOND,
  writeBytesPerSecond: KINESIS_SHARD_WRITE_BYTES_PER_SECOND,
  readCallsPerSecond: KINESIS_SHARD_READ_CALLS_PER_SECOND,
  readBytesPerSecond: KINESIS_SHARD_READ_BYTES_PER_SECOND,
};

export interface KinesisLimitsOptions {
  /** kinesalite's base URL, e.g. `http://127.0.0.1:4567`. */
  upstream: string;
  /** Enforce the limits (default true). Off: only the StreamARN mapping is applied. */
  enabled?: boolean;
  limits?: Partial<ShardLimits>;
  /**
   * The stack's account: in AWS's messages, and a StreamARN of another account names a stream that is not here.
   * Default: 000000000000 in messages (kinesalite's default) and any account accepted.
   */
  accountId?: string;
  /** The stack's region: a StreamARN of another region names a stream that is not here. Default: any region. */
  region?: string;
  /** How long a stream's shard map is trusted before DescribeStream is asked again (ms). */
  shardMapTtlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Enhanced fan-out consumers that exist from the start (the stack's `aws_kinesis_stream_consumer`s). */
  consumers?: ReadonlyArray<Omit<StreamConsumer, 'createdAt'>>;
}

export interface KinesisLimitsStats {
  requests: number;
  /** PutRecords/PutRecord entries refused with ProvisionedThroughputExceededException. */
  throttledRecords: number;
  /** GetRecords calls refused with ProvisionedThroughputExceededException. */
  throttledReads: number;
  /** Entries accepted by kinesalite through this layer. */
  writtenRecords: number;
  /** Requests whose StreamARN was mapped to StreamName. */
  arnMapped: number;
  /**
   * Requests that came in AWS CBOR (the AWS SDK for Java, KCL, KPL). They get the same limits, ARN mapping and
   * errors as JSON requests, answered in CBOR.
   */
  cborRequests: number;
}

interface ShardState {
  writeRecords: TokenBucket;
  writeBytes: TokenBucket;
  readCalls: TokenBucket;
  readBytes: TokenBucket;
}

interface StreamMap {
  ranges: ShardRange[];
  fetchedAtMs: number;
}

interface UpstreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One client request, decoded. */
interface Call {
  operation: string;
  format: WireFormat;
  headers: http.IncomingHttpHeaders;
  /** The request's params in the JSON shape (blobs base64, timestamps epoch seconds), StreamARN mapped. */
  params: Record<string, unknown>;
  /** The client's own bytes when kinesalite can take them unchanged (JSON, nothing mapped). */
  verbatim: Buffer | undefined;
}

interface PutRecordsEntry {
  Data?: unknown;
  PartitionKey?: unknown;
  ExplicitHashKey?: unknown;
}

const MAX_REQUEST_BYTES = 12 * 1024 * 1024;
/** AWS's pattern for a StreamARN (account, name): wider than the names kinesalite holds. */
const AWS_STREAM_ARN = /^arn:aws.*:kinesis:.*:(\d{12}):stream\/(\S+)$/;
const notHere = (name: string, account: string) => ({
  type: 'ResourceNotFoundException',
  message: `Stream ${name} under account ${account} not found.`,
});
/** What kinesalite lacks and this layer answers itself (`consumers.ts`). */
const CONSUMER_OPERATIONS = new Set([
  'RegisterStreamConsumer',
  'DescribeStreamConsumer',
  'ListStreamConsumers',
  'DeregisterStreamConsumer',
]);

const STREAM_CHANGING_OPERATIONS = new Set([
  'CreateStream',
  'DeleteStream',
  'SplitShard',
  'MergeShards',
  'UpdateShardCount',
]);

/** A request or response of either HTTP version (the handlers use only what both have). */
type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** How long a new connection may stay silent before its first bytes say which HTTP it speaks. */
const SNIFF_TIMEOUT_MS = 60_000;

/** The first bytes of an HTTP/2 connection with prior knowledge (RFC 9113 § 3.4): what h2c clients send. */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export class KinesisLimitsProxy {
  /**
   * The listening socket: HTTP/1.1 (the AWS CLI, botocore, SDKs given an HTTP/1.1 handler) and HTTP/2 over
   * cleartext with prior knowledge (the JavaScript SDK v3's Kinesis client, whose default handler is HTTP/2),
   * told apart by a connection's first bytes.
   */
  readonly server: net.Server;
  private readonly http1: http.Server;
  private readonly http2: http2.Http2Server;
  /**
   * Every accepted connection: the HTTP/1.1 server is handed sockets without listening itself, so its own
   * connection tracking (closeAllConnections, request timeouts) does not see them; `close()` ends these.
   */
  private readonly sockets = new Set<Socket>();
  private readonly upstream: URL;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly enabled: boolean;
  private readonly limits: ShardLimits;
  private readonly accountId: string;
  private readonly accountCheck: string | undefined;
  private readonly region: string | undefined;
  private readonly shardMapTtlMs: number;
  private readonly now: () => number;
  private readonly shards = new Map<string, ShardState>();
  private readonly streamMaps = new Map<string, StreamMap>();
  private readonly iterators = new Map<string, { stream: string; shardId: string; issuedAtMs: number }>();
  private readonly consumers: ConsumerRegistry;
  private readonly counters: KinesisLimitsStats = {
    requests: 0,
    throttledRecords: 0,
    throttledReads: 0,
    writtenRecords: 0,
    arnMapped: 0,
    cborRequests: 0,
  };

  constructor(options: KinesisLimitsOptions) {
    this.upstream = new URL(options.upstream);
    this.enabled = options.enabled ?? true;
    this.limits = { ...AWS_SHARD_LIMITS, ...options.limits };
    this.accountId = options.accountId ?? LOCAL_ACCOUNT_ID;
    this.accountCheck = options.accountId;
    this.region = options.region;
    this.shardMapTtlMs = options.shardMapTtlMs ?? DEFAULT_SHARD_MAP_TTL_MS;
    this.now = options.now ?? Date.now;
    this.consumers = new ConsumerRegistry(options.consumers, () => Math.floor(this.now() / 1000));
    const onRequest = (req: Request, res: Response) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          const format = wireFormatOf(contentTypeOf(req.headers)) ?? 'json';
          sendError(
            res,
            format,
            'InternalFailureException',
            `local Kinesis limits layer: ${String(error)}`,
            500,
          );
        } else if (res instanceof http.ServerResponse) res.destroy();
        else res.stream.destroy();
      });
    };
    this.http1 = http.createServer(onRequest);
    this.http1.keepAliveTimeout = 60_000;
    this.http2 = http2.createServer(onRequest);
    this.server = net.createServer((socket) => this.route(socket));
  }

  /** Hands a connection to the HTTP/2 server when it opens with the HTTP/2 preface, else to HTTP/1.1. */
  private route(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // A connection that says nothing is closed after a while, as the HTTP server's own timeouts would.
    socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
    sniffHead(
      socket,
      (head) => {
        const compared = Math.min(head.length, HTTP2_PREFACE.length);
        if (!head.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared))) return this.http1;
        return head.length < HTTP2_PREFACE.length ? undefined : this.http2; // so far, either
      },
      (server, head) => {
        socket.setTimeout(0);
        socket.unshift(head);
        server.emit('connection', socket);
      },
    );
  }

  /** Listens on 127.0.0.1:`port` (0 = a free port) and resolves with the URL. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    // HTTP/2 sessions end with their sockets.
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  stats(): KinesisLimitsStats {
    return { ...this.counters };
  }

  private async handle(req: Request, res: Response): Promise<void> {
    this.counters.requests += 1;
    const body = await readBody(req);
    if (body === undefined) {
      sendError(
        res,
        wireFormatOf(contentTypeOf(req.headers)) ?? 'json',
        'InvalidArgumentException',
        `Request body exceeds the ${MAX_REQUEST_BYTES / (1024 * 1024)} MiB this local endpoint reads (a PutRecords request may carry at most 5 MiB of records)`,
        413,
      );
      return;
    }
    const operation = operationOf(req.headers);
    const format = wireFormatOf(contentTypeOf(req.headers));
    if (format === 'cbor') this.counters.cborRequests += 1;
    const params =
      req.method === 'POST' && operation !== undefined && format !== undefined
        ? decodeParams(format, body)
        : undefined;
    if (params === undefined || operation === undefined || format === undefined) {
      // Not a Kinesis call this layer can read: kinesalite answers it (e.g. SerializationException).
      this.relay(res, await this.forward(req.headers, body));
      return;
    }
    if (CONSUMER_OPERATIONS.has(operation))
      return this.consumerCall(res, operation, format, params, req.headers);
    if (operation === 'SubscribeToShard') return this.subscribeToShard(res, format, params);
    const mapped = this.mapStreamArn(params);
    if (typeof mapped === 'object') return sendError(res, format, mapped.type, mapped.message);
    const call: Call = {
      operation,
      format,
      headers: req.headers,
      params,
      verbatim: format === 'json' && !mapped ? body : undefined,
    };

    if (STREAM_CHANGING_OPERATIONS.has(operation) && typeof params['StreamName'] === 'string') {
      this.streamMaps.delete(params['StreamName']);
    }
    const listed = await this.listing(operation, params);
    if (listed !== undefined) {
      if (listed.ok) sendAnswer(res, format, listed.value);
      else sendError(res, format, listed.type, listed.message, listed.status);
      return;
    }
    if (operation === 'DescribeStreamSummary') {
      this.reply(res, call, this.withConsumerCount(await this.forwardCall(call), params['StreamName']));
      return;
    }
    if (!this.enabled) {
      const upstream = await this.forwardCall(call);
      if (operation === 'GetShardIterator' || operation === 'GetRecords')
        this.noteIterator(operation, params, upstream);
      this.reply(res, call, upstream);
      return;
    }
    switch (operation) {
      case 'PutRecords':
        return this.putRecords(res, call);
      case 'PutRecord':
        return this.putRecord(res, call);
      case 'GetRecords':
        return this.getRecords(res, call);
      default: {
        const upstream = await this.forwardCall(call);
        if (operation === 'GetShardIterator') this.noteIterator(operation, params, upstream);
        this.reply(res, call, upstream);
      }
    }
  }

  /** A consumer operation, answered from the registry; whether the stream exists, kinesalite says. */
  private async consumerCall(
    res: Response,
    operation: string,
    format: WireFormat,
    params: Record<string, unknown>,
    headers: http.IncomingHttpHeaders,
  ): Promise<void> {
    const stream = ConsumerRegistry.streamToCheck(operation, params);
    const exists =
      stream !== undefined &&
      (
        await this.forward(
          { ...headers, 'x-amz-target': `${TARGET_PREFIX}DescribeStreamSummary`, 'content-type': AMZ_JSON },
          Buffer.from(JSON.stringify({ StreamName: stream })),
        )
      ).status === 200;
    const answer = this.consumers.call(operation, params, exists);
    if (answer.ok) sendAnswer(res, format, answer.body);
    else sendError(res, format, answer.type, answer.message);
  }

  /** One call to kinesalite, its JSON answer parsed (for the calls this layer completes or serves itself). */
  private readonly ask: AskKinesalite = async (target, body) =>
    upstreamAnswer(
      await this.forward(
        { 'x-amz-target': `${TARGET_PREFIX}${target}`, 'content-type': AMZ_JSON },
        Buffer.from(JSON.stringify(body)),
      ),
    );

  /** Subscriptions running, by consumer and shard (one at a time each, as on Kinesis). */
  private readonly subscriptions = new Set<string>();

  /** `SubscribeToShard`: an event stream, so HTTP/2 only (as on AWS); `subscribe-to-shard.ts`. */
  private async subscribeToShard(
    res: Response,
    format: WireFormat,
    params: Record<string, unknown>,
  ): Promise<void> {
    if (res instanceof http.ServerResponse) {
      sendError(
        res,
        format,
        'InvalidArgumentException',
        "SubscribeToShard is served over HTTP/2 only (an event stream); use a client whose handler speaks HTTP/2, such as the SDKs' default",
      );
      return;
    }
    const opened = await openSubscription(params, {
      ask: this.ask,
      consumers: this.consumers,
      active: this.subscriptions,
      now: this.now,
    });
    if (typeof opened === 'function') return opened(res);
    if (!opened.ok) sendError(res, format, opened.type, opened.message, opened.status);
  }

  /** The listing and account calls this layer completes (`listing.ts`); undefined for any other. */
  private async listing(
    operation: string,
    params: Record<string, unknown>,
  ): Promise<ListingResult | undefined> {
    const ask = this.ask;
    switch (operation) {
      case 'ListShards':
        return listShards(params, ask, this.now());
      case 'DescribeStream':
        return describeStream(params, ask);
      case 'ListStreams':
        return listStreams(params, ask);
      case 'DescribeLimits':
        return describeLimits(ask);
      default: {
        const instead = NOT_EMULATED[operation];
        return instead === undefined
          ? undefined
          : { ok: false, status: 400, type: 'UnknownOperationException', message: instead };
      }
    }
  }

  /** kinesalite counts no consumers: DescribeStreamSummary gets the registry's count. */
  private withConsumerCount(upstream: UpstreamResponse, stream: unknown): UpstreamResponse {
    if (upstream.status !== 200 || typeof stream !== 'string') return upstream;
    try {
      const answer = JSON.parse(upstream.body.toString('utf8')) as {
        StreamDescriptionSummary?: Record<string, unknown>;
      };
      if (answer.StreamDescriptionSummary === undefined) return upstream;
      answer.StreamDescriptionSummary['ConsumerCount'] = this.consumers.count(stream);
      return { ...upstream, body: Buffer.from(JSON.stringify(completeStreamSummary(answer))) };
    } catch {
      return upstream;
    }
  }

  /**
   * kinesalite refuses StreamARN; AWS accepts either. An ARN of this account (and region, when known) becomes
   * its name; a malformed one is refused as AWS refuses it, and one of another account or region names a stream
   * that is not here.
   */
  private mapStreamArn(params: Record<string, unknown>): boolean | { type: string; message: string } {
    const arn = params['StreamARN'];
    if (arn === undefined || arn === null) return false; // null is "not given" to kinesalite, as before
    const parts = typeof arn === 'string' ? parseStreamArn(arn) : undefined;
    if (parts === undefined) {
      // AWS's own pattern passes names kinesalite cannot hold (`stream/a/b`): no such stream, not a bad ARN.
      const unheld = typeof arn === 'string' ? AWS_STREAM_ARN.exec(arn) : null;
      if (unheld !== null) return notHere(unheld[2]!, unheld[1]!);
      return {
        type: 'ValidationException',
        message: `1 validation error detected: Value '${String(arn)}' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+`,
      };
    }
    const { region, account, name } = parts;
    // Checked only against what the stack said it is (startStack passes both); a bare proxy takes any.
    if (
      (this.accountCheck !== undefined && account !== this.accountCheck) ||
      (this.region !== undefined && region !== this.region)
    ) {
      return notHere(name, account);
    }
    if (params['StreamName'] === undefined) params['StreamName'] = name;
    delete params['StreamARN'];
    this.counters.arnMapped += 1;
    return true;
  }

  private async putRecords(res: Response, call: Call): Promise<void> {
    const { params } = call;
    const records = params['Records'];
    const streamName = params['StreamName'];
    const entries = Array.isArray(records) ? (records as PutRecordsEntry[]) : undefined;
    const sizes = entries === undefined ? undefined : entrySizes(entries);
    if (typeof streamName !== 'string' || entries === undefined || sizes === undefined) {
      // Malformed: kinesalite's ValidationException says exactly what and where.
      this.reply(res, call, await this.forwardCall(call));
      return;
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > KINESIS_PUT_RECORDS_MAX_BYTES) {
      sendError(
        res,
        call.format,
        'InvalidArgumentException',
        `Records size exceeds ${KINESIS_PUT_RECORDS_MAX_BYTES / 1024 / 1024} MB limit`,
      );
      return;
    }
    const ranges = await this.shardRanges(streamName, call.headers);
    if (ranges === undefined) {
      this.reply(res, call, await this.forwardCall(call)); // kinesalite's ResourceNotFoundException
      return;
    }
    const nowMs = this.now();
    const admitted: number[] = [];
    const results: Array<Record<string, unknown> | undefined> = new Array(entries.length);
    entries.forEach((entry, i) => {
      const shard = shardFor(
        ranges,
        entryHashKey(entry.PartitionKey as string, entry.ExplicitHashKey as string | undefined),
      );
      if (shard === undefined || this.admitWrite(streamName, shard.shardId, sizes[i]!, nowMs)) {
        admitted.push(i);
      } else {
        results[i] = {
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: writeThrottledMessage(shard.shardId, streamName, this.accountId),
        };
      }
    });
    const throttled = entries.length - admitted.length;
    this.counters.throttledRecords += throttled;
    if (throttled === 0) {
      const upstream = await this.forwardCall(call);
      if (upstream.status === 200)
        this.counters.writtenRecords += entries.length - failedCount(upstream.body);
      this.reply(res, call, upstream);
      return;
    }
    let failed = throttled;
    let encryption: unknown;
    if (admitted.length > 0) {
      const subRequest = { ...params, Records: admitted.map((i) => entries[i]) };
      const upstream = await this.forwardCall(call, Buffer.from(JSON.stringify(subRequest)));
      if (upstream.status !== 200) {
        this.reply(res, call, upstream);
        return;
      }
      const answer = JSON.parse(upstream.body.toString('utf8')) as {
        FailedRecordCount?: number;
        Records: Array<Record<string, unknown>>;
        EncryptionType?: unknown;
      };
      admitted.forEach((entryIndex, k) => {
        results[entryIndex] = answer.Records[k];
      });
      failed += answer.FailedRecordCount ?? 0;
      this.counters.writtenRecords += admitted.length - (answer.FailedRecordCount ?? 0);
      encryption = answer.EncryptionType;
    }
    const response: Record<string, unknown> = { FailedRecordCount: failed, Records: results };
    if (encryption !== undefined) response['EncryptionType'] = encryption;
    sendAnswer(res, call.format, response);
  }

  private async putRecord(res: Response, call: Call): Promise<void> {
    const { params } = call;
    const streamName = params['StreamName'];
    const sizes = entrySizes([params as PutRecordsEntry]);
    if (typeof streamName === 'string' && sizes !== undefined) {
      const ranges = await this.shardRanges(streamName, call.headers);
      const shard =
        ranges &&
        shardFor(
          ranges,
          entryHashKey(params['PartitionKey'] as string, params['ExplicitHashKey'] as string | undefined),
        );
      if (shard !== undefined && !this.admitWrite(streamName, shard.shardId, sizes[0]!, this.now())) {
        this.counters.throttledRecords += 1;
        sendError(
          res,
          call.format,
          'ProvisionedThroughputExceededException',
          writeThrottledMessage(shard.shardId, streamName, this.accountId),
        );
        return;
      }
    }
    const upstream = await this.forwardCall(call);
    if (upstream.status === 200) this.counters.writtenRecords += 1;
    this.reply(res, call, upstream);
  }

  private async getRecords(res: Response, call: Call): Promise<void> {
    const { params } = call;
    const iterator = params['ShardIterator'];
    const known = typeof iterator === 'string' ? this.iterators.get(iterator) : undefined;
    // A read for an enhanced fan-out consumer (the local stand-in for its SubscribeToShard push) has the
    // consumer's own 2 MiB/s, which its reader paces, and takes nothing from the shard's shared read limits.
    const consumer = call.headers[ENHANCED_FAN_OUT_CONSUMER_HEADER];
    const forConsumer = typeof consumer === 'string';
    if (forConsumer && !this.consumers.has(consumer)) {
      // As SubscribeToShard answers for a consumer that was never registered, or was deregistered.
      sendError(res, call.format, 'ResourceNotFoundException', `Consumer ${consumer} not found.`);
      return;
    }
    if (known !== undefined && !forConsumer) {
      const state = this.shardState(known.stream, known.shardId);
      const nowMs = this.now();
      // The byte bucket may be in debt after a large read: AWS throttles the calls that follow it.
      if (state.readBytes.available(nowMs) <= 0 || !state.readCalls.tryTake(1, nowMs)) {
        this.counters.throttledReads += 1;
        sendError(
          res,
          call.format,
          'ProvisionedThroughputExceededException',
          readThrottledMessage(known.shardId, known.stream, this.accountId),
        );
        return;
      }
      const upstream = await this.forwardCall(call);
      if (upstream.status === 200) {
        state.readBytes.charge(recordBytes(upstream.body), this.now());
      }
      this.noteIterator('GetRecords', params, upstream);
      this.reply(res, call, upstream);
      return;
    }
    // An iterator issued before this layer started (or unknown): kinesalite decides; no shard to charge.
    const upstream = await this.forwardCall(call);
    this.noteIterator('GetRecords', params, upstream);
    this.reply(res, call, upstream);
  }

  /** Remembers which shard an iterator reads, so GetRecords can be charged to it. */
  private noteIterator(operation: string, params: Record<string, unknown>, upstream: UpstreamResponse): void {
    if (upstream.status !== 200) return;
    const nowMs = this.now();
    let owner: { stream: string; shardId: string } | undefined;
    let next: unknown;
    const answer = JSON.parse(upstream.body.toString('utf8')) as Record<string, unknown>;
    if (operation === 'GetShardIterator') {
      if (typeof params['StreamName'] !== 'string' || typeof params['ShardId'] !== 'string') return;
      owner = { stream: params['StreamName'], shardId: normaliseShardId(params['ShardId']) };
      next = answer['ShardIterator'];
    } else {
      owner = this.iterators.get(params['ShardIterator'] as string);
      next = answer['NextShardIterator'];
    }
    if (owner === undefined || typeof next !== 'string') return;
    this.iterators.set(next, { ...owner, issuedAtMs: nowMs });
    if (this.iterators.size > 10_000) this.pruneIterators(nowMs);
  }

  private pruneIterators(nowMs: number): void {
    for (const [key, value] of this.iterators) {
      if (nowMs - value.issuedAtMs > ITERATOR_LIFETIME_MS) this.iterators.delete(key);
    }
  }

  private admitWrite(stream: string, shardId: string, bytes: number, nowMs: number): boolean {
    const state = this.shardState(stream, shardId);
    if (state.writeRecords.available(nowMs) < 1) return false;
    // A record of the largest size (1 MiB of data plus its key) is over a second of the byte limit: a full
    // bucket takes it and goes into debt, as Kinesis accepts it on an idle shard; what follows waits.
    const bytesAvailable = state.writeBytes.available(nowMs);
    if (bytesAvailable < bytes && bytesAvailable < state.writeBytes.ratePerSecond) return false;
    state.writeRecords.tryTake(1, nowMs);
    state.writeBytes.charge(bytes, nowMs);
    return true;
  }

  private shardState(stream: string, shardId: string): ShardState {
    const key = `${stream}/${shardId}`;
    let state = this.shards.get(key);
    if (state === undefined) {
      const nowMs = this.now();
      state = {
        writeRecords: new TokenBucket(this.limits.writeRecordsPerSecond, nowMs),
        writeBytes: new TokenBucket(this.limits.writeBytesPerSecond, nowMs),
        readCalls: new TokenBucket(this.limits.readCallsPerSecond, nowMs),
        readBytes: new TokenBucket(this.limits.readBytesPerSecond, nowMs),
      };
      this.shards.set(key, state);
    }
    return state;
  }

  /** The stream's open shards, cached; undefined when the stream does not exist (or has no shard yet). */
  private async shardRanges(
    stream: string,
    headers: http.IncomingHttpHeaders,
  ): Promise<ShardRange[] | undefined> {
    const cached = this.streamMaps.get(stream);
    const nowMs = this.now();
    if (cached !== undefined && nowMs - cached.fetchedAtMs < this.shardMapTtlMs) return cached.ranges;
    const shards: DescribedShard[] = [];
    let exclusiveStart: string | undefined;
    for (;;) {
      const request: Record<string, unknown> = { StreamName: stream };
      if (exclusiveStart !== undefined) request['ExclusiveStartShardId'] = exclusiveStart;
      const upstream = await this.forward(
        { ...headers, 'x-amz-target': `${TARGET_PREFIX}DescribeStream`, 'content-type': AMZ_JSON },
        Buffer.from(JSON.stringify(request)),
      );
      if (upstream.status !== 200) return undefined;
      const description = (
        JSON.parse(upstream.body.toString('utf8')) as {
          StreamDescription: { Shards: DescribedShard[]; HasMoreShards: boolean };
        }
      ).StreamDescription;
      shards.push(...description.Shards);
      if (!description.HasMoreShards || description.Shards.length === 0) break;
      exclusiveStart = description.Shards[description.Shards.length - 1]!.ShardId;
    }
    const ranges = openShardRanges(shards);
    if (ranges.length === 0) return undefined;
    this.streamMaps.set(stream, { ranges, fetchedAtMs: nowMs });
    return ranges;
  }

  /** Sends a decoded call to kinesalite, always in JSON: the client's own bytes if they need no change. */
  private forwardCall(call: Call, body?: Buffer): Promise<UpstreamResponse> {
    const json = body ?? call.verbatim ?? Buffer.from(JSON.stringify(call.params));
    return this.forward({ ...call.headers, 'content-type': AMZ_JSON }, json);
  }

  private forward(headers: http.IncomingHttpHeaders, body: Buffer): Promise<UpstreamResponse> {
    const outgoing: Record<string, string> = { ...placeholderAuthHeaders() };
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== 'string' || name.startsWith(':')) continue; // HTTP/2 pseudo-headers
      if (
        name === 'host' ||
        name === 'content-length' ||
        name === 'connection' ||
        name === 'transfer-encoding'
      )
        continue;
      outgoing[name] = value;
    }
    outgoing['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          protocol: this.upstream.protocol,
          hostname: this.upstream.hostname,
          port: this.upstream.port,
          path: '/',
          method: 'POST',
          headers: outgoing,
          agent: this.agent,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 500,
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

  /**
   * kinesalite's (JSON) answer to a call, in the call's format: the same status and request id, the body
   * verbatim for JSON clients and re-encoded for CBOR clients, with `x-amzn-ErrorType` on errors as AWS sends it.
   * Anything that is not JSON (kinesalite's 413, its XML signature errors) goes back as it came.
   */
  private reply(res: Response, call: Call, upstream: UpstreamResponse): void {
    if (contentTypeOf(upstream.headers) !== AMZ_JSON) {
      this.relay(res, upstream);
      return;
    }
    const error = upstream.status >= 400;
    let value: unknown;
    if ((error || call.format !== 'json') && upstream.body.length > 0) {
      try {
        value = JSON.parse(upstream.body.toString('utf8'));
      } catch {
        this.relay(res, upstream);
        return;
      }
    }
    const body =
      call.format === 'json' || upstream.body.length === 0 ? upstream.body : encodeAnswer(call.format, value);
    const headers: Record<string, string> = { 'content-type': contentTypeFor(call.format) };
    for (const name of ['x-amzn-requestid', 'x-amz-id-2']) {
      const header = upstream.headers[name];
      if (typeof header === 'string') headers[name] = header;
    }
    const type = error ? (value as { __type?: unknown } | undefined)?.__type : undefined;
    if (typeof type === 'string') headers['x-amzn-errortype'] = errorTypeHeader(type);
    headers['content-length'] = String(body.length);
    res.writeHead(upstream.status, headers);
    res.end(body);
  }

  /** kinesalite's answer to a request this layer did not decode, exactly as it came. */
  private relay(res: Response, upstream: UpstreamResponse): void {
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'x-amzn-requestid', 'x-amz-id-2']) {
      const value = upstream.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    headers['content-length'] = String(upstream.body.length);
    res.writeHead(upstream.status, headers);
    res.end(upstream.body);
  }
}

/**
 * Bytes each entry counts against the limits (data after base64 decoding + partition key), or undefined when
 * an entry is malformed or over a per-entry limit: kinesalite's validation then answers with AWS's message.
 */
function entrySizes(entries: readonly PutRecordsEntry[]): number[] | undefined {
  if (entries.length < 1 || entries.length > KINESIS_PUT_RECORDS_MAX_ENTRIES) return undefined;
  const sizes: number[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const { Data, PartitionKey, ExplicitHashKey } = entry;
    if (typeof Data !== 'string' || typeof PartitionKey !== 'string') return undefined;
    if (PartitionKey.length < 1 || PartitionKey.length > KINESIS_PARTITION_KEY_MAX_CHARS) return undefined;
    if (
      ExplicitHashKey !== undefined &&
      (typeof ExplicitHashKey !== 'string' || !/^(0|[1-9]\d{0,38})$/.test(ExplicitHashKey))
    )
      return undefined;
    const dataBytes = Buffer.byteLength(Data, 'base64');
    if (dataBytes > KINESIS_RECORD_MAX_BYTES) return undefined;
    sizes.push(dataBytes + Buffer.byteLength(PartitionKey, 'utf8'));
  }
  return sizes;
}

function failedCount(body: Buffer): number {
  try {
    return (JSON.parse(body.toString('utf8')) as { FailedRecordCount?: number }).FailedRecordCount ?? 0;
  } catch {
    return 0;
  }
}

/** Bytes of record data (plus keys) a GetRecords answer carried. */
function recordBytes(body: Buffer): number {
  try {
    const answer = JSON.parse(body.toString('utf8')) as {
      Records?: Array<{ Data: string; PartitionKey: string }>;
    };
    let bytes = 0;
    for (const record of answer.Records ?? []) {
      bytes += Buffer.byteLength(record.Data, 'base64') + Buffer.byteLength(record.PartitionKey, 'utf8');
    }
    return bytes;
  } catch {
    return body.length;
  }
}

/** Kinesis accepts `shardId-000000000001` and also `1` or `000000000001` for a ShardId. */
function normaliseShardId(shardId: string): string {
  const match = /(\d+)$/.exec(shardId);
  return match === null ? shardId : `shardId-${match[1]!.padStart(12, '0')}`;
}

function readBody(req: Request): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** kinesalite's JSON answer, parsed: its body, or its error's type (`__type` without the namespace) and message. */
function upstreamAnswer(upstream: UpstreamResponse): UpstreamAnswer {
  let value: Record<string, unknown> = {};
  try {
    value = JSON.parse(upstream.body.toString('utf8') || '{}') as Record<string, unknown>;
  } catch {}
  if (upstream.status === 200) return { ok: true, value };
  const type = String(value['__type'] ?? 'InternalFailureException');
  return {
    ok: false,
    status: upstream.status,
    type: type.slice(type.lastIndexOf('#') + 1),
    message: String(value['message'] ?? value['Message'] ?? ''),
  };
}

/** An answer this layer writes itself (a re-assembled PutRecords result), in the client's format. */
function sendAnswer(res: Response, format: WireFormat, value: unknown): void {
  const body = encodeAnswer(format, value);
  res.writeHead(200, { 'content-type': contentTypeFor(format), 'content-length': body.length });
  res.end(body);
}

/** An error as AWS answers it: `{ __type, message }` in the client's format, and `x-amzn-ErrorType`. */
function sendError(res: Response, format: WireFormat, type: string, message: string, status = 400): void {
  const body = errorBody(format, type, message);
  res.writeHead(status, {
    'content-type': contentTypeFor(format),
    'content-length': body.length,
    'x-amzn-errortype': errorTypeHeader(type),
  });
  res.end(body);
}
