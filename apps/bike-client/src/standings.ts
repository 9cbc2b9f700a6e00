/**
 * What a bike makes of the leaderboards on `alleycat-subscribe/{classId}`: its own standing in its race.
 * Large races arrive in several parts; a bike needs only the part holding its racerId, and knows the whole
 * board is in when it has `parts` parts of one (race, second). Older seconds are ignored.
 */
import { type LeaderboardMessage, type ParseError, parseLeaderboardMessage } from '@alleycat/schema';
import type { OwnStanding } from './types.js';

export class StandingsTracker {
  readonly racerId: number;
  private latest: OwnStanding | undefined;
  private latestSecond = new Map<number, number>();
  /** The leader's total of the newest (race, second) seen: its part may come before the one holding us. */
  private leaders = new Map<number, { second: number; total: number }>();
  /** Leaderboard payloads that failed to parse (counted, never thrown). */
  invalid = 0;
  lastError: ParseError | undefined;

  constructor(racerId: number) {
    this.racerId = racerId;
  }

  get standing(): OwnStanding | undefined {
    return this.latest;
  }

  /** Feeds one payload; returns the new own standing when this payload carried it. */
  accept(payload: string | Uint8Array): OwnStanding | undefined {
    const result = parseLeaderboardMessage(payload);
    if (!result.ok) {
      this.invalid += 1;
      this.lastError = result.error;
      return undefined;
    }
    return this.acceptMessage(result.leaderboard);
  }

  acceptMessage(board: LeaderboardMessage): OwnStanding | undefined {
    const seen = this.latestSecond.get(board.raceId) ?? -1;
    if (board.second < seen) return undefined;
    this.latestSecond.set(board.raceId, board.second);
    const leader = board.standings.find((s) => s[4] === 1);
    if (leader) this.leaders.set(board.raceId, { second: board.second, total: leader[2] });
    if (leader && this.latest?.raceId === board.raceId && this.latest.second === board.second) {
      this.latest.leaderTotal = leader[2];
    }
    const own = board.standings.find((s) => s[0] === this.racerId);
    if (own === undefined) return undefined;
    const known = this.leaders.get(board.raceId);
    const leaderTotal = leader?.[2] ?? (known?.second === board.second ? known.total : undefined);
    this.latest = {
      raceId: board.raceId,
      second: board.second,
      racerId: own[0],
      current: own[1],
      total: own[2],
      max: own[3],
      rank: own[4],
      racers: board.racers,
      closed: board.closed,
      ...(leaderTotal === undefined ? {} : { leaderTotal }),
    };
    return this.latest;
  }
}
