/** The bike's own standing from leaderboard parts, whatever order the parts arrive in. */
import { buildLeaderboardMessages } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { StandingsTracker } from '../src/standings.js';

const scores = Array.from({ length: 30 }, (_, i) => ({
  racerId: i + 1,
  current: 100,
  total: 1000 - i * 10,
  max: 200,
}));
// Tiny parts: the leader (racer 1) and racer 20 are in different parts.
const parts = buildLeaderboardMessages(
  { raceId: 42, classId: 2, second: 12, publishedAt: 1, closed: false, scores },
  400,
);
const partOf = (racerId: number) => parts.find((p) => p.standings.some((s) => s[0] === racerId))!;

describe('StandingsTracker', () => {
  it('knows the leader’s total whether the leader’s part comes before or after its own', () => {
    expect(partOf(1)).not.toBe(partOf(20));
    for (const order of [
      [partOf(1), partOf(20)],
      [partOf(20), partOf(1)],
    ]) {
      const tracker = new StandingsTracker(20);
      for (const part of order) tracker.acceptMessage(part);
      expect(tracker.standing).toMatchObject({ racerId: 20, rank: 20, total: 810, leaderTotal: 1000 });
    }
  });

  it('does not carry a leader over from an older second', () => {
    const older = buildLeaderboardMessages(
      { raceId: 42, classId: 2, second: 11, publishedAt: 1, closed: false, scores },
      400,
    );
    const tracker = new StandingsTracker(20);
    tracker.acceptMessage(older.find((p) => p.standings.some((s) => s[0] === 1))!);
    tracker.acceptMessage(partOf(20));
    expect(tracker.standing?.leaderTotal).toBeUndefined();
  });
});
