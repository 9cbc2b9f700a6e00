import type { ParseError } from './errors.js';

export type RaceEvent = 'update' | 'final';

/** One second of one racer in one race. Field order and names are the seed's wire format. */
export interface RaceMessage {
  /** `update` every second, `final` on the racer's last second. */
  event: RaceEvent;
  /** The bike's clock, ms since the Unix epoch (integer). */
  deviceTimestamp: number;
  /** Race second (integer, 0–86,400). */
  second: number;
  raceId: number;
  /** Display name, 1–64 printable code points. */
  name: string;
  /** The rider: unique across classes, stable across races. */
  racerId: number;
  classId: number;
  /** rpm, 0–250, fractions allowed. */
  cadence: number;
  /** percent, 0–100, fractions allowed. */
  resistance: number;
  /** Optional message id (UUID). */
  uuid?: string;
  /** Sender's MQTT client id, added by the ingest rule; never sent by bikes. */
  clientId?: string;
}

/**
 * A race message as `readRaceRecord` hands it to its visitor: every field but the two it checks and does not
 * copy (`uuid`, `clientId`). One object, refilled for each message: copy what you keep.
 */
export type RaceRow = Omit<RaceMessage, 'uuid' | 'clientId'>;

/** Called by `readRaceRecord` once per message of a record, in order. */
export type RaceRowVisitor = (row: Readonly<RaceRow>) => void;

/** The per-second part of a race message, as carried inside a batch. */
export interface RaceSample {
  event: RaceEvent;
  deviceTimestamp: number;
  second: number;
  cadence: number;
  resistance: number;
  uuid?: string;
}

/** Several seconds of one racer in one message. */
export interface RaceBatch {
  raceId: number;
  name: string;
  racerId: number;
  classId: number;
  samples: RaceSample[];
  uuid?: string;
  clientId?: string;
}

/** `[racerId, current, total, max, rank]`. */
export type Standing = [racerId: number, current: number, total: number, max: number, rank: number];

/** Standings of a race as published on `alleycat-subscribe/{classId}`; large races come in several parts. */
export interface LeaderboardMessage {
  type: 'leaderboard';
  raceId: number;
  classId: number;
  second: number;
  publishedAt: number;
  closed: boolean;
  racers: number;
  part: number;
  parts: number;
  standings: Standing[];
  names?: Array<[racerId: number, name: string]>;
}

export type ParseFailure = { ok: false; error: ParseError };
export type RaceMessageParseResult = { ok: true; message: RaceMessage } | ParseFailure;
export type RaceBatchParseResult = { ok: true; batch: RaceBatch } | ParseFailure;
/** Either wire form, normalised to race messages (a batch expands to one message per sample). */
export type RaceRecordParseResult = { ok: true; messages: RaceMessage[]; batched: boolean } | ParseFailure;
export type LeaderboardParseResult = { ok: true; leaderboard: LeaderboardMessage } | ParseFailure;
/** The result of `parseRaceMessage`. */
export type ParseResult = RaceMessageParseResult;
