/**
 * Where race state lives. `DynamoStateStore` is the real one; `MemoryStateStore` implements the same
 * conditions in memory for the benchmark's CPU path and for unit tests of the orchestration.
 */
import type { RaceBoard } from './board.js';

/** What a board write is conditioned on: the version read (0: must not exist) and, when claiming, `pubAt`. */
export interface BoardExpectation {
  version: number;
  publishedAtMs: number;
  /** True when this write also claims the leaderboard slot (sets `pubAt`/`pubV` to the board's). */
  claim: boolean;
}

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

export interface StateStore {
  /** Strongly consistent read of a race's board; undefined if the race has none yet. */
  loadBoard(raceId: number): Promise<RaceBoard | undefined>;
  /**
   * Writes `board` (with `version` already incremented) if the stored board still matches `expected`.
   * False on a lost race with another writer (conditional check failed); throws on anything else.
   */
  saveBoard(board: RaceBoard, expected: BoardExpectation): Promise<boolean>;
  /** Claims the leaderboard slot for `version` if no version ≥ it was published and the slot is free. */
  claimPublish(raceId: number, version: number, nowMs: number, intervalMs: number): Promise<boolean>;
  /** Gives a claimed slot back after the publish failed (only if nobody claimed since). */
  releasePublish(
    raceId: number,
    claimed: { atMs: number; version: number },
    previous: { atMs: number; version: number },
  ): Promise<void>;
  /** Raises a racer's best total for a class (never lowers it). True if it changed. */
  updateBest(
    racerId: number,
    classId: number,
    total: number,
    raceId: number,
    nowMs: number,
  ): Promise<boolean>;
  /** The open-race index, read by the timeout sweep. */
  markOpen(race: OpenRace): Promise<void>;
  markClosed(raceId: number): Promise<void>;
  listOpen(): Promise<OpenRace[]>;
  readonly stats: WriteStats;
}
