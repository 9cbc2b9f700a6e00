/**
 * A race's board: every racer's running score and the seconds already counted, merged in memory (pure)
 * and stored as one DynamoDB item. Exactly-once lives here: a second counts only if it is absent from the
 * racer's `seen` set of the board version the write is conditioned on (README § Exactly once).
 */
import {
  addOutput,
  buildLeaderboardMessages,
  type LeaderboardMessage,
  output,
  type RaceRow,
  type RacerScore,
} from '@alleycat/schema';
import { LATE_SHARD_WAIT_MS, LATE_SHARE, NAMES_EVERY_SECONDS } from './constants.js';
import { SecondSet } from './second-set.js';
import type { MessageColumns, RaceGroup, RejectReason, SourcedMessage } from './types.js';

/** Why a racer's race is over: their `final` arrived, or they went silent while the race went on. */
export type CloseReason = 'final' | 'timeout';

export interface RacerState {
  racerId: number;
  name: string;
  /** Sum of `output` over distinct seconds. */
  total: number;
  max: number;
  /** Output of the latest (highest) second counted. */
  current: number;
  /** Highest second counted; -1 before any. */
  latestSecond: number;
  /** Distinct seconds counted. */
  count: number;
  closed?: CloseReason;
  /** Latest `approximateArrivalTimestamp` (ms) of the racer's records. */
  lastArrivalMs: number;
  seen: SecondSet;
}

export interface RaceBoard {
  raceId: number;
  classId: number;
  /** Stored version; 0 for a board not yet stored. Every write is conditioned on it. */
  version: number;
  createdAtMs: number;
  /** Latest arrival of any record of the race (ms); drives racer timeouts and the race timeout. */
  lastArrivalMs: number;
  /** The leaderboard's publish slot as stored with the board (README § Leaderboards). */
  publish: PublishState;
  racers: Map<number, RacerState>;
  /**
   * The store's count of writes to the board as read (merges and slot changes alike), if the store keeps
   * one: its next write is conditioned on it. Opaque to everything else.
   */
  storeRevision?: number;
}

/**
 * The publish slot of a race, shared by every shard. A claim (`claimedAtMs`: a round, made by the first write
 * of a newer second) promises a publish; the write that brings the round in (or finds it overdue) *seals* it
 * (`sealedAtMs = claimedAtMs`), recording which version it publishes (`version`) and when (`sentAtMs`). A
 * board written while the current claim is unsealed is covered by it; one written after the seal goes out with
 * the next round (or the scheduled sweep's, when no round comes). README § Leaderboards.
 */
export interface PublishState {
  /** When the latest claim was made (ms); 0 if never. */
  claimedAtMs: number;
  /** `claimedAtMs` of the latest sealed claim; equal to `claimedAtMs` once the current claim is sealed. */
  sealedAtMs: number;
  /** When the latest sealed claim published (ms): publishes are at least one interval apart. */
  sentAtMs: number;
  /** The board version the latest seal published (0: none). */
  version: number;
  /** Racers on the board at that publish (names go out again when it grew). */
  racers: number;
  /** The round of the current claim: the race second it publishes (the commonest in its claimant's records). */
  second: number;
  /**
   * Racers the round waits for: those that had reached the second before it when the claim was made. The
   * round is in once that many racers have reached its second; the write that brings it in seals it.
   */
  expected: number;
}

export const NO_PUBLISH: Readonly<PublishState> = {
  claimedAtMs: 0,
  sealedAtMs: 0,
  sentAtMs: 0,
  version: 0,
  racers: 0,
  second: 0,
  expected: 0,
};

export function newBoard(raceId: number, classId: number, nowMs: number): RaceBoard {
  return {
    raceId,
    classId,
    version: 0,
    createdAtMs: nowMs,
    lastArrivalMs: 0,
    publish: { ...NO_PUBLISH },
    racers: new Map(),
  };
}

/**
 * Racers a claim made now for the round of `second` waits for: open racers that have reached the second
 * before it and raced before it (a racer whose first second is the round's own is a newcomer, not awaited).
 */
export function racersAwaited(board: RaceBoard, second: number): number {
  let n = 0;
  for (const racer of board.racers.values()) {
    if (racer.closed === undefined && racer.latestSecond >= second - 1 && racer.seen.first < second) n++;
  }
  return n;
}

/**
 * True when the claim's round is in: as many racers that raced before its second have reached it as it
 * waits for (racers that closed on it count). Racers behind by more than a second, or silent, are not
 * awaited; newcomers cannot stand in for a missing racer. Pure.
 */
export function roundArrived(board: RaceBoard, claim: PublishState): boolean {
  return roundArrivals(board, claim) >= claim.expected;
}

/** How many racers that raced before the claim's round have reached its second (what `roundArrived` counts). */
function roundArrivals(board: RaceBoard, claim: PublishState): number {
  let n = 0;
  for (const racer of board.racers.values()) {
    if (racer.latestSecond >= claim.second && racer.seen.first < claim.second) n++;
  }
  return n;
}

/**
 * True when the claim's round has waited long enough for the racers still missing: `settleMs` when a few are
 * missing (bikes that dropped a message: a round of hundreds should not wait for them), up to
 * `LATE_SHARD_WAIT_MS` while more than `LATE_SHARE` of those it awaits are missing — then a shard's records of
 * the second are behind another's, and publishing without them would make all of them wait for the next round
 * (measured at 3,000 riders on 4 shards: BENCHMARKS.md, session 13). Pure.
 */
export function roundOverdue(
  board: RaceBoard,
  claim: PublishState,
  nowMs: number,
  settleMs: number,
): boolean {
  const waited = nowMs - claim.claimedAtMs;
  if (waited < settleMs) return false;
  if (waited >= LATE_SHARD_WAIT_MS) return true;
  const missing = claim.expected - roundArrivals(board, claim);
  return missing <= Math.max(1, Math.floor(claim.expected * LATE_SHARE));
}

/**
 * The round a group of messages stands for: its commonest second (the later one on a tie; -1 if empty).
 * Not the highest: one bike with a clock ahead must not name a round nobody else has reached.
 */
export function roundSecondOf(group: RaceGroup): number {
  // A batch holds one or two seconds, seldom more: the first few are counted in a short list (a Map costs a
  // lookup a message), any beyond them in a Map.
  const seconds: number[] = [];
  const counts: number[] = [];
  let more: Map<number, number> | undefined;
  let best = -1;
  let bestCount = 0;
  const column = group.columns.second;
  for (const i of group.messages) {
    const second = column[i]!;
    const k = seconds.indexOf(second);
    let n: number;
    if (k >= 0) n = ++counts[k]!;
    else if (seconds.length < FEW_SECONDS) {
      seconds.push(second);
      counts.push(1);
      n = 1;
    } else {
      more ??= new Map();
      n = (more.get(second) ?? 0) + 1;
      more.set(second, n);
    }
    if (n > bestCount || (n === bestCount && second > best)) {
      best = second;
      bestCount = n;
    }
  }
  return best;
}

/** Distinct seconds `roundSecondOf` counts in its list. */
const FEW_SECONDS = 16;

/** A message refused at merge time (it contradicts the stored race), with the record it came from. */
export interface MergeRejection {
  recordIndex: number;
  /** Its user record, when the record is a KPL aggregate. */
  subSequenceNumber?: number;
  reason: RejectReason;
}

/** Messages new columns have room for, unless told. */
const COLUMNS_CAPACITY = 32;

/** Empty columns with room for `capacity` messages before they grow. */
export function newMessageColumns(capacity = COLUMNS_CAPACITY): MessageColumns {
  const n = Math.max(1, capacity);
  return {
    length: 0,
    racerId: new Float64Array(n),
    classId: new Float64Array(n),
    second: new Float64Array(n),
    output: new Float64Array(n),
    final: new Uint8Array(n),
    name: [],
    recordIndex: new Float64Array(n),
    subSequence: new Float64Array(n),
    arrivalMs: new Float64Array(n),
  };
}

function doubled(column: Float64Array): Float64Array {
  const bigger = new Float64Array(column.length * 2);
  bigger.set(column);
  return bigger;
}

/** Doubles the columns' room, keeping what they hold. */
function growColumns(c: MessageColumns): void {
  c.racerId = doubled(c.racerId);
  c.classId = doubled(c.classId);
  c.second = doubled(c.second);
  c.output = doubled(c.output);
  const final = new Uint8Array(c.final.length * 2);
  final.set(c.final);
  c.final = final;
  c.recordIndex = doubled(c.recordIndex);
  c.subSequence = doubled(c.subSequence);
  c.arrivalMs = doubled(c.arrivalMs);
}

/** An empty group for `raceId`, its messages kept in `columns` (shared by an invocation's groups). */
export function newRaceGroup(raceId: number, columns: MessageColumns = newMessageColumns()): RaceGroup {
  return { raceId, columns, messages: [] };
}

/**
 * Appends one message (or the schema's row of one) to the group's columns and to the group; `subSequence` is
 * its user record's when its record is a KPL aggregate.
 */
export function addToGroup(
  group: RaceGroup,
  m: Readonly<RaceRow>,
  recordIndex: number,
  arrivalMs: number,
  subSequence = -1,
): void {
  const c = group.columns;
  const i = c.length;
  if (i === c.racerId.length) growColumns(c);
  c.racerId[i] = m.racerId;
  c.classId[i] = m.classId;
  c.second[i] = m.second;
  c.output[i] = output(m.cadence, m.resistance);
  c.final[i] = m.event === 'final' ? 1 : 0;
  c.name.push(m.name);
  c.recordIndex[i] = recordIndex;
  c.subSequence[i] = subSequence;
  c.arrivalMs[i] = arrivalMs;
  c.length = i + 1;
  group.messages.push(i);
}

/** The index of the record the group's first message came from. */
export function firstRecordOf(group: RaceGroup): number {
  return group.columns.recordIndex[group.messages[0]!]!;
}

/** The class the group's first message names. */
export function classOf(group: RaceGroup): number {
  return group.columns.classId[group.messages[0]!]!;
}

/** One key per payload: a record (`subSequenceNumber` -1 or absent), or one user record of a KPL aggregate. */
export function payloadKey(recordIndex: number, subSequenceNumber = -1): string {
  return `${recordIndex}:${subSequenceNumber}`;
}

/** The payloads the group's messages came from (a record, or a user record of one), each once, in order. */
export function sourcesOf(group: RaceGroup): Array<{ recordIndex: number; subSequenceNumber?: number }> {
  const seen = new Set<string>();
  const sources: Array<{ recordIndex: number; subSequenceNumber?: number }> = [];
  for (const i of group.messages) {
    const recordIndex = group.columns.recordIndex[i]!;
    const sub = group.columns.subSequence[i]!;
    const key = payloadKey(recordIndex, sub);
    if (seen.has(key)) continue;
    seen.add(key);
    sources.push(sub >= 0 ? { recordIndex, subSequenceNumber: sub } : { recordIndex });
  }
  return sources;
}

export interface MergeResult {
  /** True when the board differs from what was read (it must be written). */
  changed: boolean;
  secondsCounted: number;
  duplicates: number;
  /** Racers whose score, state or arrival changed. */
  racersUpdated: number;
  newRacers: number;
  /** Racers closed by this merge (their `final`, or silence while the race went on). */
  racersClosed: number;
  rejected: MergeRejection[];
}

/** A racer silent this long while others in the race still arrive is closed (their `final` was lost). */
function closeSilentRacers(board: RaceBoard, timeoutMs: number, closedNow: Set<number>): void {
  for (const racer of board.racers.values()) {
    if (racer.closed === undefined && board.lastArrivalMs - racer.lastArrivalMs > timeoutMs) {
      racer.closed = 'timeout';
      closedNow.add(racer.racerId);
    }
  }
}

/**
 * Merges messages of one race into `board` (mutated). Seconds already in a racer's `seen` set are
 * duplicates and change nothing; `final` closes the racer (idempotently); seconds after `final` still count.
 */
export function mergeMessages(
  board: RaceBoard,
  messages: readonly SourcedMessage[],
  timeoutMs: number,
): MergeResult {
  const group = newRaceGroup(board.raceId);
  for (const s of messages) addToGroup(group, s.message, s.recordIndex, s.arrivalMs);
  return mergeGroup(board, group, timeoutMs);
}

/** `mergeMessages` over a race's group of messages in columns (what the processor builds). */
export function mergeGroup(board: RaceBoard, g: RaceGroup, timeoutMs: number): MergeResult {
  let changed = false;
  let secondsCounted = 0;
  let duplicates = 0;
  let newRacers = 0;
  const updated = new Set<number>();
  const closedNow = new Set<number>();
  const rejected: MergeRejection[] = [];
  const boardClass = board.classId;
  const racers = board.racers;
  const c = g.columns;
  const messages = g.messages;

  for (let k = 0; k < messages.length; k++) {
    const i = messages[k]!;
    const racerId = c.racerId[i]!;
    const arrivalMs = c.arrivalMs[i]!;
    if (c.classId[i] !== boardClass) {
      const rejection: MergeRejection = {
        recordIndex: c.recordIndex[i]!,
        reason: {
          code: 'class_mismatch',
          path: '/classId',
          message: `race ${board.raceId} is a race of class ${boardClass}, not ${c.classId[i]}`,
        },
      };
      if (c.subSequence[i]! >= 0) rejection.subSequenceNumber = c.subSequence[i]!;
      rejected.push(rejection);
      continue;
    }
    let racer = racers.get(racerId);
    if (racer === undefined) {
      racer = {
        racerId,
        name: c.name[i]!,
        total: 0,
        max: 0,
        current: 0,
        latestSecond: -1,
        count: 0,
        lastArrivalMs: arrivalMs,
        seen: new SecondSet(),
      };
      racers.set(racerId, racer);
      newRacers++;
      changed = true;
      updated.add(racerId);
    }
    const second = c.second[i]!;
    if (racer.seen.add(second)) {
      const value = c.output[i]!;
      racer.total = addOutput(racer.total, value); // order-independent, so replays agree to the digit
      if (racer.count === 0 || value > racer.max) racer.max = value;
      if (second > racer.latestSecond) {
        racer.latestSecond = second;
        racer.current = value;
      }
      racer.count++;
      secondsCounted++;
      changed = true;
      updated.add(racerId);
    } else duplicates++;
    if (c.final[i] === 1 && racer.closed !== 'final') {
      // A `final` also ends a racer closed by timeout: the bike had not given up after all.
      racer.closed = 'final';
      closedNow.add(racerId);
      changed = true;
      updated.add(racerId);
    }
    if (arrivalMs > racer.lastArrivalMs) {
      racer.lastArrivalMs = arrivalMs;
      changed = true;
    }
    if (arrivalMs > board.lastArrivalMs) {
      board.lastArrivalMs = arrivalMs;
      changed = true;
    }
  }
  closeSilentRacers(board, timeoutMs, closedNow);
  if (closedNow.size > 0) changed = true;

  return {
    changed,
    secondsCounted,
    duplicates,
    racersUpdated: updated.size,
    newRacers,
    racersClosed: closedNow.size,
    rejected,
  };
}

/** Closes every open racer of an idle race (no record for longer than the timeout). Returns who closed. */
export function closeIdleRace(board: RaceBoard): number[] {
  const closed: number[] = [];
  for (const racer of board.racers.values()) {
    if (racer.closed === undefined) {
      racer.closed = 'timeout';
      closed.push(racer.racerId);
    }
  }
  return closed;
}

/** A race is over when every racer in it is (by `final` or timeout). */
export function isRaceClosed(board: RaceBoard): boolean {
  if (board.racers.size === 0) return false;
  for (const racer of board.racers.values()) if (racer.closed === undefined) return false;
  return true;
}

/** The race's latest second counted (the leaderboard's `second`). */
export function latestSecond(board: RaceBoard): number {
  let latest = 0;
  for (const racer of board.racers.values()) if (racer.latestSecond > latest) latest = racer.latestSecond;
  return latest;
}

/** The leaderboard message(s) for the board, split by the schema into parts under IoT Core's 128 KB. */
export function leaderboardFor(
  board: RaceBoard,
  publishedAtMs: number,
  withNames: boolean,
): LeaderboardMessage[] {
  // A racer's state has every field of a `RacerScore`: handed over as is, no copy per racer.
  const scores: RacerScore[] = [...board.racers.values()];
  const second = latestSecond(board);
  const closed = isRaceClosed(board);
  return buildLeaderboardMessages({
    raceId: board.raceId,
    classId: board.classId,
    second,
    publishedAt: publishedAtMs,
    closed,
    scores,
    withNames: withNames || second % NAMES_EVERY_SECONDS === 0 || closed,
  });
}
