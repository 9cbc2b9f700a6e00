/** The bike's own standing from leaderboard parts, whatever order the parts arrive in. */
import { describe, expect, it } from 'vitest';
import { StandingsTracker } from '../src/standings.js';
import { partOf as partIn, smallPartsLeaderboard } from './support/leaderboards.js';

// The leader (racer 1) and racer 20 are in different parts.
const parts = smallPartsLeaderboard(12);
const partOf = (racerId: number) => partIn(parts, racerId);

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
    const tracker = new StandingsTracker(20);
    tracker.acceptMessage(partIn(smallPartsLeaderboard(11), 1));
    tracker.acceptMessage(partOf(20));
    expect(tracker.standing?.leaderTotal).toBeUndefined();
  });
});
