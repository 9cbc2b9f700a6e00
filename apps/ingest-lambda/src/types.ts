/** Types of the ingest Lambda. Wire types (RaceMessage, LeaderboardMessage, …) come from `@alleycat/schema`. */
import type { InvalidRecordReport, LeaderboardMessage, RaceMessage } from '@alleycat/schema';

/** Validated configuration (from `LAMBDA_ENV`, see `config.ts`). */
export interface IngestConfig {
  tableName: string;
  /** Full URL of the IoT data-plane endpoint (a bare host becomes `https://host`). */
  iotDataEndpoint: string;
  resultsTopicPrefix: string;
  /** Exactly one of the two: the errors bucket on AWS, or a folder standing for it locally. */
  errorsBucket?: string;
  errorsDir?: string;
  raceTimeoutSeconds: number;
  /** Delay between claiming a race's publish slot and publishing (`ALLEYCAT_PUBLISH_SETTLE_MS`). */
  publishSettleMs: number;
  region: string;
}

/** Why a record (or one message inside it) was rejected: the schema's `ParseError` shape, plus our codes. */
export interface RejectReason {
  code: string;
  path: string;
  message: string;
}

/** A message taken from a record, with where it came from. */
export interface SourcedMessage {
  message: RaceMessage;
  /** Index of the Kinesis record in the invocation's `Records`. */
  recordIndex: number;
  /** The record's `approximateArrivalTimestamp`, in ms. */
  arrivalMs: number;
}

/**
 * An invocation's messages as columns (index i < length is one message): only what merging needs, numbers
 * in typed arrays that grow by doubling. Sized for the batch up front, so the parsed rows leave nothing
 * behind but these, and a message costs no allocation.
 */
export interface MessageColumns {
  length: number;
  racerId: Float64Array;
  classId: Float64Array;
  second: Float64Array;
  /** `output(cadence, resistance)` of the second. */
  output: Float64Array;
  /** 1 for `final`. */
  final: Uint8Array;
  name: string[];
  recordIndex: Float64Array;
  /** The message's user record in a KPL aggregate, -1 when the record is not one. */
  subSequence: Float64Array;
  arrivalMs: Float64Array;
}

/** One race's messages of an invocation: their indexes into the invocation's columns, in record order. */
export interface RaceGroup {
  raceId: number;
  columns: MessageColumns;
  messages: number[];
}

/** A payload of one Kinesis record that was refused: the whole record, or one KPL user record of it. */
export interface Rejection {
  subSequenceNumber?: number;
  reason: RejectReason;
  data: Uint8Array;
}

/** Destination for rejected payloads (the errors bucket, or a folder locally). */
export interface InvalidRecordSink {
  write(key: string, report: InvalidRecordReport): Promise<void>;
}

/** Sends leaderboard messages to a topic (the IoT data plane). */
export interface LeaderboardPublisher {
  publish(topic: string, message: LeaderboardMessage): Promise<void>;
}

/** Clock, injectable for tests and the benchmark. */
export type Clock = () => number;
