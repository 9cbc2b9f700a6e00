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
 * One race's messages of an invocation, as columns (index i is one message). Only what merging needs is
 * kept, so the parsed message objects die young instead of living through the invocation's I/O.
 */
export interface RaceGroup {
  raceId: number;
  length: number;
  racerId: number[];
  classId: number[];
  second: number[];
  /** `output(cadence, resistance)` of the second. */
  output: number[];
  final: boolean[];
  name: string[];
  recordIndex: number[];
  arrivalMs: number[];
}

/** What decoding one Kinesis record gives: its messages and anything inside it that was rejected. */
export interface DecodedRecord {
  messages: RaceMessage[];
  rejections: Array<{ subSequenceNumber?: number; reason: RejectReason; data: Uint8Array }>;
  /** User records in the Kinesis record (1 unless it is a KPL aggregate). */
  userRecords: number;
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
