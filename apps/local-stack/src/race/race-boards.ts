/**
 * The leaderboards a race watcher has received on `alleycat-subscribe/+`, assembled per race (a large race's
 * board comes in parts), and the publish → leaderboard latency of each board when the sending times of race
 * seconds are known. Pure: the caller feeds messages and times.
 */
import type { LeaderboardMessage, Standing } from '@alleycat/schema';

export interface RaceState {
  raceId: number;
  classId: number;
  /** Latest race second a board showed. */
  second: number;
  closed: boolean;
  racers: number;
  standings: Map<number, Standing>;
  names: Map<number, string>;
  boards: number;
  lastReceivedAt: number;
}

export class RaceBoards {
  private readonly races = new Map<number, RaceState>();
  /** When each (race, second) was first seen published by a bike (MQTT path: the watcher sees bikes' messages). */
  private readonly sentAt = new Map<string, number>();
  /** publish → leaderboard received, one sample per board (part 1) whose second's send time is known. */
  readonly latenciesMs: number[] = [];

  /** Notes when a bike's message for `second` of `raceId` was published (first one wins). */
  sent(raceId: number, second: number, at: number): void {
    const key = `${raceId}:${second}`;
    if (!this.sentAt.has(key)) this.sentAt.set(key, at);
  }

  receive(board: LeaderboardMessage, receivedAt: number): void {
    let race = this.races.get(board.raceId);
    if (race === undefined) {
      race = {
        raceId: board.raceId,
        classId: board.classId,
        second: 0,
        closed: false,
        racers: 0,
        standings: new Map(),
        names: new Map(),
        boards: 0,
        lastReceivedAt: receivedAt,
      };
      this.races.set(board.raceId, race);
    }
    if (board.second < race.second) return; // an older board arriving late
    race.second = board.second;
    // The latest board says whether the race is closed: "closed" means every racer the Lambda knows has sent
    // its final, so a racer whose records arrive later (another shard) reopens it.
    race.closed = board.closed;
    race.racers = board.racers;
    race.lastReceivedAt = receivedAt;
    for (const standing of board.standings) race.standings.set(standing[0], standing);
    for (const [racerId, name] of board.names ?? []) race.names.set(racerId, name);
    if (board.part === 1) {
      race.boards += 1;
      const sent = this.sentAt.get(`${board.raceId}:${board.second}`);
      if (sent !== undefined) this.latenciesMs.push(receivedAt - sent);
    }
  }

  all(): RaceState[] {
    return [...this.races.values()].sort((a, b) => a.classId - b.classId || a.raceId - b.raceId);
  }

  get(raceId: number): RaceState | undefined {
    return this.races.get(raceId);
  }

  /** Each racer's total as the latest boards show it. */
  totals(): Map<number, number> {
    const totals = new Map<number, number>();
    for (const race of this.races.values()) {
      for (const [racerId, standing] of race.standings) totals.set(racerId, standing[2]);
    }
    return totals;
  }
}

/** The race's top `n` by rank (ties as ranked by the publisher). */
export function topOf(race: RaceState, n: number): Standing[] {
  return [...race.standings.values()].sort((a, b) => a[4] - b[4] || b[2] - a[2]).slice(0, n);
}
