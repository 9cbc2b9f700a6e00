/**
 * In-memory `StateStore` with the same conditions as the DynamoDB one. Boards are stored encoded, as in
 * DynamoDB, so a load never aliases a board another invocation is merging.
 */
import type { RaceBoard } from './board.js';
import { BoardCache } from './board-cache.js';
import { decodeRacers, encodeRacers } from './board-codec.js';
import type { BoardExpectation, OpenRace, StateStore, WriteStats } from './state-store.js';

interface StoredBoard {
  raceId: number;
  classId: number;
  version: number;
  createdAtMs: number;
  lastArrivalMs: number;
  publishedAtMs: number;
  publishedVersion: number;
  racers: Uint8Array;
}

const KB = 1024;

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

  async loadBoard(raceId: number): Promise<RaceBoard | undefined> {
    const s = this.boards.get(raceId);
    if (s === undefined) return undefined;
    return {
      raceId: s.raceId,
      classId: s.classId,
      version: s.version,
      createdAtMs: s.createdAtMs,
      lastArrivalMs: s.lastArrivalMs,
      publishedAtMs: s.publishedAtMs,
      publishedVersion: s.publishedVersion,
      racers:
        this.cache.checkout(raceId, s.version, s.createdAtMs) ?? decodeRacers(s.racers, s.lastArrivalMs),
    };
  }

  async saveBoard(board: RaceBoard, expected: BoardExpectation): Promise<boolean> {
    const racers = encodeRacers(board.racers.values(), board.lastArrivalMs);
    this.write(racers.length + 150);
    const stored = this.boards.get(board.raceId);
    const matches =
      expected.version === 0
        ? stored === undefined
        : stored !== undefined &&
          stored.version === expected.version &&
          (!expected.claim || stored.publishedAtMs === expected.publishedAtMs);
    if (!matches) {
      this.stats.conditionalFailures++;
      return false;
    }
    this.boards.set(board.raceId, {
      raceId: board.raceId,
      classId: board.classId,
      version: board.version,
      createdAtMs: board.createdAtMs,
      lastArrivalMs: board.lastArrivalMs,
      publishedAtMs: expected.claim ? board.publishedAtMs : (stored?.publishedAtMs ?? 0),
      publishedVersion: expected.claim ? board.publishedVersion : (stored?.publishedVersion ?? 0),
      racers,
    });
    this.cache.checkin(board.raceId, board.version, board.createdAtMs, board.racers);
    return true;
  }

  async claimPublish(raceId: number, version: number, nowMs: number, intervalMs: number): Promise<boolean> {
    this.write(1);
    const s = this.boards.get(raceId);
    if (s === undefined || s.publishedVersion >= version || s.publishedAtMs > nowMs - intervalMs) {
      this.stats.conditionalFailures++;
      return false;
    }
    s.publishedAtMs = nowMs;
    s.publishedVersion = version;
    return true;
  }

  async releasePublish(
    raceId: number,
    claimed: { atMs: number; version: number },
    previous: { atMs: number; version: number },
  ): Promise<void> {
    this.write(1);
    const s = this.boards.get(raceId);
    if (s === undefined || s.publishedAtMs !== claimed.atMs || s.publishedVersion !== claimed.version) {
      this.stats.conditionalFailures++;
      return;
    }
    s.publishedAtMs = previous.atMs;
    s.publishedVersion = previous.version;
  }

  async updateBest(racerId: number, classId: number, total: number, raceId: number): Promise<boolean> {
    this.write(1);
    const key = `${racerId}/${classId}`;
    const current = this.bests.get(key);
    if (current !== undefined && current.best >= total) {
      this.stats.conditionalFailures++;
      return false;
    }
    this.bests.set(key, { best: total, raceId });
    return true;
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
