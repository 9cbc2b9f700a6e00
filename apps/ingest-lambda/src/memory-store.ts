/**
 * In-memory `StateStore` with the same conditions as the DynamoDB one. Boards are stored encoded, as in
 * DynamoDB, so a load never aliases a board another invocation is merging.
 */
import type { PublishState, RaceBoard } from './board.js';
import { BoardCache } from './board-cache.js';
import { decodeRacers, encodeRacers } from './board-codec.js';
import { LIVE_MOVE_AFTER_MS, MAX_LIVE_WRITE_ATTEMPTS } from './constants.js';
import {
  type BoardExpectation,
  bestKey,
  type CompactResult,
  type OpenRace,
  requestsOf,
  type SealOutcome,
  type StateStore,
  type WriteStats,
} from './state-store.js';
import { TurnBatcher } from './turn-batcher.js';

interface StoredBoard {
  raceId: number;
  classId: number;
  version: number;
  createdAtMs: number;
  lastArrivalMs: number;
  publish: PublishState;
  racers: Uint8Array;
  racerCount: number;
}

const KB = 1024;

interface PendingWrite {
  board: RaceBoard;
  expected: BoardExpectation;
  racers: Uint8Array;
}

export class MemoryStateStore implements StateStore {
  readonly boards = new Map<number, StoredBoard>();
  readonly bests = new Map<string, { best: number; raceId: number }>();
  readonly open = new Map<number, OpenRace>();
  readonly stats: WriteStats = { writes: 0, writeUnits: 0, conditionalFailures: 0 };
  /** Same decode-skipping cache as the DynamoDB store, so the benchmark measures the same CPU path. */
  private readonly cache = new BoardCache();

  private write(bytes: number): void {
    this.stats.writes++;
    this.stats.writeUnits += Math.max(1, Math.ceil(bytes / KB));
  }

  private toBoard(s: StoredBoard, peek: boolean): RaceBoard {
    const cached = peek
      ? this.cache.peek(s.raceId, s.version, s.createdAtMs)
      : this.cache.checkout(s.raceId, s.version, s.createdAtMs);
    return {
      raceId: s.raceId,
      classId: s.classId,
      version: s.version,
      createdAtMs: s.createdAtMs,
      lastArrivalMs: s.lastArrivalMs,
      publish: { ...s.publish },
      racers: cached ?? decodeRacers(s.racers, s.lastArrivalMs),
    };
  }

  async loadBoard(raceId: number): Promise<RaceBoard | undefined> {
    const s = this.boards.get(raceId);
    return s === undefined ? undefined : this.toBoard(s, false);
  }

  /**
   * Like the DynamoDB store, the writes of one turn go as one request to the shared live item (a chunk of
   * `LIVE_ENTRIES_PER_WRITE`), all or nothing; the losers are found and the rest sent again.
   */
  async saveBoard(board: RaceBoard, expected: BoardExpectation): Promise<boolean> {
    const racers = encodeRacers(board.racers.values(), board.lastArrivalMs);
    return this.writes.add('live', { board, expected, racers });
  }

  private readonly writes = new TurnBatcher<PendingWrite, boolean>(async (_key, entries) => {
    const results = entries.map(() => false);
    // In order: a request that writes a race makes a later request's write of it lose.
    for (const request of requestsOf(entries, (entry) => entry.board.raceId)) {
      let pending = request;
      for (let attempt = 1; pending.length > 0; attempt++) {
        this.write(this.liveBytes(pending.map((i) => entries[i]!)));
        if (pending.every((i) => this.holds(entries[i]!))) {
          for (const i of pending) {
            this.apply(entries[i]!);
            results[i] = true;
          }
          break;
        }
        this.stats.conditionalFailures++;
        if (pending.length === 1 || attempt >= MAX_LIVE_WRITE_ATTEMPTS) break;
        pending = pending.filter((i) => this.holds(entries[i]!));
      }
    }
    return results;
  }, queueMicrotask);

  /**
   * What a write to the live item bills: its races as they will be, with the DynamoDB store's compaction
   * approximated (boards idle for `LIVE_MOVE_AFTER_MS` left it).
   */
  private liveBytes(writing: PendingWrite[]): number {
    const sizes = new Map<number, { bytes: number; lastArrivalMs: number }>();
    for (const s of this.boards.values()) {
      sizes.set(s.raceId, { bytes: s.racers.length + 150, lastArrivalMs: s.lastArrivalMs });
    }
    for (const w of writing) {
      sizes.set(w.board.raceId, { bytes: w.racers.length + 150, lastArrivalMs: w.board.lastArrivalMs });
    }
    let newest = 0;
    for (const s of sizes.values()) newest = Math.max(newest, s.lastArrivalMs);
    let bytes = 0;
    for (const s of sizes.values()) if (newest - s.lastArrivalMs < LIVE_MOVE_AFTER_MS) bytes += s.bytes;
    return bytes;
  }

  private holds({ board, expected }: PendingWrite): boolean {
    const stored = this.boards.get(board.raceId);
    return expected.version === 0
      ? stored === undefined
      : stored !== undefined &&
          stored.version === expected.version &&
          stored.publish.claimedAtMs === expected.claimedAtMs &&
          stored.publish.sealedAtMs === expected.sealedAtMs;
  }

  private apply({ board, expected, racers }: PendingWrite): void {
    const stored = this.boards.get(board.raceId);
    let publish = { ...(stored?.publish ?? board.publish) };
    if (expected.claim) {
      publish.claimedAtMs = board.publish.claimedAtMs;
      publish.second = board.publish.second;
      publish.expected = board.publish.expected;
    }
    if (expected.seal) publish = { ...board.publish };
    this.boards.set(board.raceId, {
      raceId: board.raceId,
      classId: board.classId,
      version: board.version,
      createdAtMs: board.createdAtMs,
      lastArrivalMs: board.lastArrivalMs,
      publish,
      racers,
      racerCount: board.racers.size,
    });
    this.cache.checkin(board.raceId, board.version, board.createdAtMs, board.racers);
  }

  async readPublish(raceId: number): Promise<PublishState | undefined> {
    const s = this.boards.get(raceId);
    return s === undefined ? undefined : { ...s.publish };
  }

  async claimPublish(
    raceId: number,
    seenClaimedAtMs: number,
    nowMs: number,
    second: number,
  ): Promise<boolean> {
    const s = this.boards.get(raceId);
    this.write(s === undefined ? 1 : s.racers.length + 150);
    if (s === undefined || s.publish.claimedAtMs !== seenClaimedAtMs) {
      this.stats.conditionalFailures++;
      return false;
    }
    s.publish.claimedAtMs = nowMs;
    s.publish.second = second;
    s.publish.expected = 0; // a claim outside a merge write waits for no racer (README § Leaderboards)
    return true;
  }

  async sealPublish(
    raceId: number,
    claimedAtMs: number,
    nowMs: number,
    intervalMs: number,
  ): Promise<SealOutcome> {
    const s = this.boards.get(raceId);
    this.write(s === undefined ? 1 : s.racers.length + 150);
    if (s === undefined || s.publish.claimedAtMs !== claimedAtMs || s.publish.sealedAtMs === claimedAtMs) {
      // Replaced by a later claim, or sealed already by the write that completed the round.
      this.stats.conditionalFailures++;
      return { lost: true };
    }
    if (s.publish.sentAtMs > nowMs - intervalMs) {
      this.stats.conditionalFailures++;
      return { retryAtMs: s.publish.sentAtMs + intervalMs };
    }
    // The board as it was when sealed (the seal changes only the slot), with the slot as it was before.
    const board = this.toBoard(s, true);
    s.publish = {
      claimedAtMs,
      sealedAtMs: claimedAtMs,
      sentAtMs: nowMs,
      version: s.version,
      racers: s.racerCount,
      second: s.publish.second,
      expected: s.publish.expected,
    };
    return { board };
  }

  async releasePublish(raceId: number, claimedAtMs: number, previous: PublishState): Promise<void> {
    const s = this.boards.get(raceId);
    this.write(s === undefined ? 1 : s.racers.length + 150);
    if (s === undefined || s.publish.claimedAtMs !== claimedAtMs || s.publish.sealedAtMs !== claimedAtMs) {
      this.stats.conditionalFailures++;
      return;
    }
    s.publish.version = previous.version;
    s.publish.sentAtMs = previous.sentAtMs;
    s.publish.racers = previous.racers;
  }

  async readBests(keys: ReadonlyArray<{ racerId: number; classId: number }>): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (const { racerId, classId } of keys) {
      const key = bestKey(racerId, classId);
      const best = this.bests.get(key);
      if (best !== undefined) found.set(key, best.best);
    }
    return found;
  }

  async updateBest(racerId: number, classId: number, total: number, raceId: number): Promise<boolean> {
    this.write(1);
    const key = bestKey(racerId, classId);
    const current = this.bests.get(key);
    if (current !== undefined && current.best >= total) {
      this.stats.conditionalFailures++;
      return false;
    }
    this.bests.set(key, { best: total, raceId });
    return true;
  }

  async compact(): Promise<CompactResult> {
    return { moved: 0, markersRemoved: 0 };
  }

  async markOpen(race: OpenRace): Promise<void> {
    this.write(1);
    this.open.set(race.raceId, race);
  }

  async markClosed(raceId: number): Promise<void> {
    this.write(1);
    this.open.delete(raceId);
  }

  async listOpen(): Promise<OpenRace[]> {
    return [...this.open.values()];
  }
}
