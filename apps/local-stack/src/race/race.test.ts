import type { LeaderboardMessage } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { MetricTotals, parseEmfLine } from './emf.js';
import { percentile } from './percentiles.js';
import { RaceBoards, topOf } from './race-boards.js';
import { renderStatus } from './render.js';

const board = (over: Partial<LeaderboardMessage>): LeaderboardMessage => ({
  type: 'leaderboard',
  raceId: 1,
  classId: 1,
  second: 1,
  publishedAt: 0,
  closed: false,
  racers: 1,
  part: 1,
  parts: 1,
  standings: [],
  ...over,
});

describe('EMF lines', () => {
  it('reads the metrics a Powertools EMF line declares, summing repeated values', () => {
    const line = JSON.stringify({
      _aws: {
        Timestamp: 1,
        CloudWatchMetrics: [
          { Namespace: 'A', Dimensions: [[]], Metrics: [{ Name: 'Messages' }, { Name: 'DuplicateSeconds' }] },
        ],
      },
      Messages: [3, 4],
      DuplicateSeconds: 2,
      service: 'x',
    });
    expect(parseEmfLine(line)).toEqual({ Messages: 7, DuplicateSeconds: 2 });
    expect(parseEmfLine('{"level":"INFO","message":"hi"}')).toBeUndefined();
    expect(parseEmfLine('{"_aws": broken')).toBeUndefined();
    const totals = new MetricTotals();
    totals.add({ Messages: 7 });
    totals.add({ Messages: 5, ArrivalLagMs: 30 });
    expect([totals.get('Messages'), totals.last['Messages'], totals.get('Nope')]).toEqual([12, 5, 0]);
  });
});

describe('race boards', () => {
  it('keeps the latest board per race: later standings win, older boards are ignored, a late racer reopens a closed race', () => {
    const boards = new RaceBoards();
    boards.sent(1, 2, 1_000);
    boards.receive(
      board({ second: 2, closed: true, standings: [[7, 10, 20, 12, 1]], names: [[7, 'Ada']] }),
      1_250,
    );
    expect(boards.get(1)).toMatchObject({ closed: true, second: 2 });
    expect(boards.latenciesMs).toEqual([250]);
    boards.receive(board({ second: 1, standings: [[7, 5, 5, 5, 1]] }), 1_300); // older: ignored
    expect(boards.totals()).toEqual(new Map([[7, 20]]));
    boards.receive(
      board({
        second: 2,
        closed: false,
        racers: 2,
        standings: [
          [8, 30, 30, 30, 1],
          [7, 10, 20, 12, 2],
        ],
      }),
      1_400,
    );
    expect(boards.get(1)?.closed).toBe(false);
    expect(topOf(boards.get(1)!, 1)).toEqual([[8, 30, 30, 30, 1]]);
    expect(boards.get(1)?.names.get(7)).toBe('Ada');
  });

  it('percentiles by nearest rank', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([5, 1, 3, 2, 4], 99)).toBe(5);
    expect(percentile([], 50)).toBeNaN();
  });

  it('renders the status line with the counters', () => {
    const line = renderStatus({
      second: 3,
      seconds: 45,
      via: 'mqtt',
      ingestPerSecond: 1000,
      processedPerSecond: 990,
      processed: 3000,
      invalid: 1,
      duplicates: 2,
      throttledWrites: 3,
      throttledReads: 0,
      errorActions: 3,
      latenciesMs: [100, 200],
      arrivalLagMs: undefined,
    });
    expect(line).toBe(
      'second 3/45  in 1,000 msg/s  processed 990 msg/s (3,000)  lag p50 100 ms p99 200 ms  invalid 1  duplicates 2  throttled 3  error action 3',
    );
  });
});
