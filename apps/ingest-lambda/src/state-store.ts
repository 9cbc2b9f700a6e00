/**
 * Where race state lives. `DynamoStateStore` is the real one; `MemoryStateStore` implements the same
 * conditions in memory for the benchmark's CPU path and for unit tests of the orchestration.
 */
import type { PublishState, RaceBoard } from './board.js';
import { LIVE_ENTRIES_PER_WRITE } from './constants.js';

/**
 * What a board write is conditioned on: the version read (0: must not exist) and the publish slot's claim
 * and seal as read — so a writer knows exactly which claim its version is covered by (README § Leaderboards).
 */
export interface BoardExpectation {
  version: number;
  claimedAtMs: number;
  sealedAtMs: number;
  /**
   * True when this write also claims the publish slot (sets `pubAt`, the round's second `pubS` and the
   * racers it waits for `pubE` from `board.publish`).
   */
  claim: boolean;
  /**
   * True when this write also seals the claim (stores `board.publish`: sealed at the claim, sent now, this
   * version): the claim's round is in (or overdue) with this write, which publishes the board it writes.
   */
  seal?: boolean;
}

/**
 * Writes of the live item grouped into requests (indices into `writes`): at most `LIVE_ENTRIES_PER_WRITE`
 * each, and a race at most once in a request — DynamoDB refuses overlapping paths, and two writes of one
 * race in a turn (two invocations sharing a process, as the local stack's do) must not both count: one of
 * them loses its condition.
 */
export function requestsOf<T>(writes: readonly T[], raceOf: (write: T) => number): number[][] {
  const requests: Array<{ indices: number[]; races: Set<number> }> = [];
  for (const [i, write] of writes.entries()) {
    const race = raceOf(write);
    let request = requests.find((r) => r.indices.length < LIVE_ENTRIES_PER_WRITE && !r.races.has(race));
    if (request === undefined) {
      request = { indices: [], races: new Set() };
      requests.push(request);
    }
    request.indices.push(i);
    request.races.add(race);
  }
  return requests.map((r) => r.indices);
}

/** The key of a racer's best in a class, in `readBests`' answer. */
export const bestKey = (racerId: number, classId: number): string => `${racerId}/${classId}`;

export interface OpenRace {
  raceId: number;
  classId: number;
  openedAtMs: number;
}

/** Write requests and their estimated write units (1 per started KB of the item written), since start. */
export interface WriteStats {
  writes: number;
  writeUnits: number;
  conditionalFailures: number;
}

/** What one compaction of the live item did (README § Item design). */
export interface CompactResult {
  moved: number;
  markersRemoved: number;
}

/** What sealing a claim gave: the board to publish, a lost claim, or "too early, retry at". */
export type SealOutcome = { board: RaceBoard } | { lost: true } | { retryAtMs: number };

export interface StateStore {
  /** Strongly consistent read of a race's board; undefined if the race has none yet. */
  loadBoard(raceId: number): Promise<RaceBoard | undefined>;
  /**
   * Writes `board` (with `version` already incremented) if the stored board still matches `expected`.
   * False on a lost race with another writer (conditional check failed); throws on anything else.
   */
  saveBoard(board: RaceBoard, expected: BoardExpectation): Promise<boolean>;
  /** The publish slot alone (strongly consistent; a projection, not the racers); undefined if no board. */
  readPublish(raceId: number): Promise<PublishState | undefined>;
  /**
   * Claims the publish slot at `nowMs` for the round of `second` if the current claim is still the one
   * seen (`seenClaimedAtMs`).
   */
  claimPublish(raceId: number, seenClaimedAtMs: number, nowMs: number, second: number): Promise<boolean>;
  /**
   * Seals the claim made at `claimedAtMs`: records the board's current version and racer count as
   * published at `nowMs`, and returns the board as it is at that moment (the one to publish). `lost` if
   * another claim replaced it or the claim is sealed already; `retryAtMs` if the previous publish was less than `intervalMs` ago.
   */
  sealPublish(raceId: number, claimedAtMs: number, nowMs: number, intervalMs: number): Promise<SealOutcome>;
  /** After a failed publish: puts back the published version and time (only if the seal is still current). */
  releasePublish(raceId: number, claimedAtMs: number, previous: PublishState): Promise<void>;
  /**
   * The stored bests of these racers in these classes (key `bestKey(racerId, classId)`; absent: none yet).
   * Eventually consistent is enough: a best only grows, so a stale read is lower than the truth and can only
   * cause a write that was not needed (its condition then fails), never skip one that was.
   */
  readBests(keys: ReadonlyArray<{ racerId: number; classId: number }>): Promise<Map<string, number>>;
  /** Raises a racer's best total for a class (never lowers it). True if it changed. */
  updateBest(
    racerId: number,
    classId: number,
    total: number,
    raceId: number,
    nowMs: number,
  ): Promise<boolean>;
  /**
   * Moves closed, published races out of the shared live item and forgets old markers (DynamoDB); the
   * memory store keeps no shared item and does nothing.
   */
  compact(nowMs: number): Promise<CompactResult>;
  /** The open-race index, read by the timeout sweep. */
  markOpen(race: OpenRace): Promise<void>;
  markClosed(raceId: number): Promise<void>;
  listOpen(): Promise<OpenRace[]>;
  readonly stats: WriteStats;
}
