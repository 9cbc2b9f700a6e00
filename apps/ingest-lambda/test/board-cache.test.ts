import { describe, expect, it } from 'vitest';
import type { RacerState } from '../src/board.js';
import { BoardCache } from '../src/board-cache.js';

const racers = () => new Map<number, RacerState>();

describe('BoardCache', () => {
  it('hands a board out once, and only for the version and incarnation written', () => {
    const cache = new BoardCache();
    const a = racers();
    cache.checkin(1, 5, 1000, a);
    expect(cache.checkout(1, 5, 1000)).toBe(a);
    expect(cache.checkout(1, 5, 1000)).toBeUndefined(); // checked out: never twice
    cache.checkin(1, 6, 1000, a);
    expect(cache.checkout(1, 7, 1000)).toBeUndefined(); // someone else wrote v7
    expect(cache.checkout(1, 6, 1000)).toBeUndefined(); // a miss drops the entry
    cache.checkin(1, 1, 1000, a);
    expect(cache.checkout(1, 1, 2000)).toBeUndefined(); // recreated after TTL: versions start again
  });

  it('keeps the most recently written boards up to its capacity', () => {
    const cache = new BoardCache(2);
    cache.checkin(1, 1, 0, racers());
    cache.checkin(2, 1, 0, racers());
    cache.checkin(1, 2, 0, racers());
    cache.checkin(3, 1, 0, racers());
    expect(cache.checkout(2, 1, 0)).toBeUndefined();
    expect(cache.checkout(1, 2, 0)).toBeDefined();
    expect(cache.checkout(3, 1, 0)).toBeDefined();
  });
});
