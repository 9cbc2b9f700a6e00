/** A 30-racer leaderboard (racer i + 1 totals 1000 − 10 i) cut into tiny parts, so racers land in different parts. */
import { buildLeaderboardMessages, type LeaderboardMessage } from '@alleycat/schema';

export function smallPartsLeaderboard(second: number, publishedAt = 1): LeaderboardMessage[] {
  const scores = Array.from({ length: 30 }, (_, i) => ({
    racerId: i + 1,
    current: 100,
    total: 1000 - i * 10,
    max: 200,
  }));
  return buildLeaderboardMessages(
    { raceId: 42, classId: 2, second, publishedAt, closed: false, scores },
    400,
  );
}

/** The part of `parts` that holds `racerId`. */
export function partOf(parts: LeaderboardMessage[], racerId: number): LeaderboardMessage {
  return parts.find((p) => p.standings.some((s) => s[0] === racerId))!;
}
