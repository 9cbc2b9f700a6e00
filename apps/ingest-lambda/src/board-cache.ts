/**
 * Decoded racers of boards this container wrote last, keyed by race and version. A Lambda container
 * usually writes the same races batch after batch, so the board it reads back is most often the one it
 * wrote: then the stored version matches and decoding the blob again is skipped (the read itself still
 * happens — it is what proves nobody else wrote in between).
 *
 * Entries are checked out on a hit: the caller mutates the racers while merging, so a cached map must
 * never be handed out twice. Only a successful write checks one back in, under the new version.
 */
import type { RacerState } from './board.js';

export class BoardCache {
  private readonly entries = new Map<
    number,
    { version: number; createdAtMs: number; racers: Map<number, RacerState> }
  >();

  constructor(private readonly capacity = 32) {}

  /**
   * The racers stored under `version`, if this container wrote them; removed from the cache. `createdAtMs`
   * tells a board recreated after TTL expiry (whose versions start again at 1) from the one cached.
   */
  checkout(raceId: number, version: number, createdAtMs: number): Map<number, RacerState> | undefined {
    const entry = this.entries.get(raceId);
    if (entry === undefined) return undefined;
    this.entries.delete(raceId);
    return entry.version === version && entry.createdAtMs === createdAtMs ? entry.racers : undefined;
  }

  /**
   * The racers stored under `version` without removing them: only for reading (a leaderboard), never
   * merged into. Safe because a container runs one invocation at a time and publishes after its merges.
   */
  peek(raceId: number, version: number, createdAtMs: number): Map<number, RacerState> | undefined {
    const entry = this.entries.get(raceId);
    return entry !== undefined && entry.version === version && entry.createdAtMs === createdAtMs
      ? entry.racers
      : undefined;
  }

  /** Remembers racers just written under `version` (least recently written entries leave first). */
  checkin(raceId: number, version: number, createdAtMs: number, racers: Map<number, RacerState>): void {
    this.entries.delete(raceId);
    this.entries.set(raceId, { version, createdAtMs, racers });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
    }
  }
}
