import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { addOutput, type LeaderboardMessage, output, roundScore } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { ExpectedTotals, expectedTotals } from './expected.js';
import { LatencyTracker, lagGrowthMs } from './latency.js';
import { parseCpuSeconds, parseStatusMb, sampleProcess, UsageMeter } from './procfs.js';
import { roundRiders, searchPath } from './search.js';
import { slicesOf } from './simulator.js';
import { BIKE_CLIENT_DIR } from './stack.js';
import { raceStateLine } from './table.js';

describe('procfs', () => {
  it('reads user + system ticks after a command name with spaces and parentheses', () => {
    const stat = '4242 (node (my part)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 1 1 1';
    expect(parseCpuSeconds(stat)).toBe(3.25);
  });

  it('reads VmHWM in MiB and says NaN when a field is missing', () => {
    expect(parseStatusMb('Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t 102400 kB\n', 'VmHWM')).toBe(200);
    expect(parseStatusMb('Name:\tnode\n', 'VmRSS')).toBeNaN();
  });

  it('measures this process: CPU spent between start and finish, and its peak RSS', () => {
    expect(sampleProcess(process.pid)!.peakRssMb).toBeGreaterThan(10);
    expect(sampleProcess(2 ** 22 + 12345)).toBeUndefined();
    const meter = new UsageMeter();
    meter.add('me', process.pid);
    meter.start();
    // Spin for 0.2 s of this process's own CPU time (wall time is no measure on a busy machine).
    const before = process.cpuUsage();
    let x = 0;
    for (let used = 0; used < 200_000; ) {
      for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + i);
      const now = process.cpuUsage(before);
      used = now.user + now.system;
    }
    const [usage] = meter.finish();
    const spent = process.cpuUsage(before);
    expect(x).toBeGreaterThan(0);
    // /proc counts in 10 ms ticks; vitest's own threads add a little.
    expect(usage!.cpuSeconds).toBeGreaterThanOrEqual(0.18);
    expect(usage!.cpuSeconds).toBeLessThan((spent.user + spent.system) / 1e6 + 0.5);
    expect(usage!.cpuPercentOfOneCore).toBeGreaterThan(0);
    expect(usage!.peakRssMb).toBeGreaterThan(10);
  });

  it('takes a final reading a process reported itself over its /proc one', () => {
    const meter = new UsageMeter();
    meter.start();
    meter.add('gone', 2 ** 22 + 12345);
    meter.final(2 ** 22 + 12345, { cpuSeconds: 4, peakRssMb: 99 });
    expect(meter.finish()[0]).toMatchObject({ part: 'gone', cpuSeconds: 4, peakRssMb: 99 });
  });
});

describe('searchPath', () => {
  const searchWith = async (capacity: number, start = 1000) => {
    const tried: number[] = [];
    const best = await searchPath({ start, min: 125, max: 64_000, bisect: 2 }, async (r) => {
      tried.push(r);
      return r <= capacity;
    });
    return { best, tried };
  };

  it('doubles while points pass, then bisects between the last pass and the first failure', async () => {
    expect(await searchWith(3200)).toEqual({ best: 3000, tried: [1000, 2000, 4000, 3000, 3500] });
  });

  it('halves from a failing start and bisects above the pass it finds', async () => {
    expect(await searchWith(400)).toEqual({ best: 380, tried: [1000, 500, 250, 380, 440] });
  });

  it('reports no sustained count when even the smallest point fails', async () => {
    expect(await searchWith(100)).toEqual({ best: null, tried: [1000, 500, 250, 125] });
  });

  it('stops at the maximum when everything passes', async () => {
    const { best, tried } = await searchWith(1e9);
    expect(best).toBe(64_000);
    expect(tried.at(-1)).toBe(64_000);
  });

  it('rounds rider counts to two significant figures', () => {
    expect([roundRiders(1437), roundRiders(375), roundRiders(96), roundRiders(12_345)]).toEqual([
      1400, 380, 96, 12_000,
    ]);
  });
});

describe('slicesOf', () => {
  it('splits a field into contiguous racer ranges', () => {
    expect(slicesOf(12_000, 5000)).toEqual([
      { index: 0, firstRacer: 1, riders: 5000 },
      { index: 1, firstRacer: 5001, riders: 5000 },
      { index: 2, firstRacer: 10_001, riders: 2000 },
    ]);
  });
});

describe('LatencyTracker', () => {
  // 2 racers × 3 s; outputs 30, 40, 50 (racer 1) and 25, 25, 25 (racer 2).
  const expected = new ExpectedTotals(2, 3, Float64Array.from([30, 70, 120, 25, 50, 75]));
  const board = (standings: Array<[number, number]>): LeaderboardMessage => ({
    type: 'leaderboard',
    raceId: 1,
    classId: 1,
    second: 0,
    publishedAt: 0,
    closed: false,
    racers: 2,
    part: 1,
    parts: 1,
    standings: standings.map(([racerId, total]) => [racerId, 0, total, 0, 1]),
  });

  it('times each (racer, second) from its send to the first board whose total includes it', () => {
    const t = new LatencyTracker(expected, 1, () => 0, 1000);
    t.tick(0, 0, 1000);
    t.tick(0, 1, 2000);
    t.tick(0, 2, 3000);
    t.board(
      board([
        [1, 30],
        [2, 25],
      ]),
      1200,
    ); // second 0 of both: 200 ms
    t.board(
      board([
        [1, 120],
        [2, 25],
      ]),
      3500,
    ); // racer 1 seconds 1 and 2: 1,500 and 500 ms
    t.board(
      board([
        [1, 120],
        [2, 75],
      ]),
      3700,
    ); // racer 2 seconds 1, 2: 1,700 and 700 ms; racer 1 again: nothing
    expect(t.seen).toBe(6);
    expect([t.countedFor(1, 1), t.countedFor(2, 1), t.countedFor(1, 2)]).toEqual([3, 3, 6]);
    expect([t.percentile(50), t.percentile(100), t.percentile(0)]).toEqual([500, 1700, 200]);
    expect(t.over).toBe(2);
    expect(
      t.mismatches(
        new Map([
          [1, 120],
          [2, 75],
        ]),
      ),
    ).toEqual([]);
    expect(
      t.mismatches(
        new Map([
          [1, 120],
          [2, 50],
        ]),
      ),
    ).toEqual([2]);
    expect(lagGrowthMs(t.meanBySecond())).toBeGreaterThan(0);
  });

  it("times a pair from its bike's publish call when the simulator reported one, and keeps the time from the tick", () => {
    const t = new LatencyTracker(expected, 1, () => 0, 1000);
    t.tick(0, 0, 1000);
    t.published(1, 0, 1040); // racer 1 published 40 ms after the tick; racer 2's call was not reported
    t.published(3, 0, 1000); // no such racer: ignored
    t.board(
      board([
        [1, 30],
        [2, 25],
      ]),
      1300,
    );
    expect(t.timedFromPublish).toBe(1);
    expect([t.percentile(0), t.percentile(100)]).toEqual([260, 300]);
    expect([t.percentile(0, 'fromTick'), t.percentile(100, 'fromTick')]).toEqual([300, 300]);
    // Overdue counts from the publish too: 1,000 ms after the tick, racer 1's second 1 is not overdue yet.
    t.tick(0, 1, 2000);
    t.published(1, 1, 2100);
    expect(t.overdue(3050)).toBe(1);
  });

  it('counts pairs still missing from the boards past the limit as overdue, after the warm-up only', () => {
    const t = new LatencyTracker(expected, 1, () => 0, 1000, 1);
    t.tick(0, 0, 0);
    t.tick(0, 1, 1000);
    t.tick(0, 2, 2000);
    expect(t.steadyPairs).toBe(4);
    expect(t.overdue(2500)).toBe(2); // second 1 of both racers (> 1,000 ms); second 0 is warm-up
    expect(t.overdue(3500)).toBe(4);
    t.board(board([[1, 70]]), 3600); // racer 1 seconds 0–1: the warm-up second is not in the percentiles
    expect([t.seen, t.seenSteady, t.percentile(100), t.percentile(100, 'all')]).toEqual([2, 1, 2600, 3600]);
  });

  it('compares final totals with what each slice sent when the run stopped early', () => {
    const t = new LatencyTracker(expected, 2, (r) => r - 1, 1000);
    t.tick(0, 0, 0);
    t.tick(0, 1, 1000);
    t.tick(1, 0, 0);
    expect(
      t.mismatches(
        new Map([
          [1, 70],
          [2, 25],
        ]),
      ),
    ).toEqual([]);
  });
});

describe('expectedTotals', () => {
  it('replays exactly the totals of the messages the simulator builds, slice by slice', async () => {
    const { Simulation } = (await import(
      pathToFileURL(path.join(BIKE_CLIENT_DIR, 'src', 'simulator.ts')).href
    )) as {
      Simulation: new (
        o: object,
      ) => {
        buildSecond(s: number): { messages: Array<{ racerId: number; cadence: number; resistance: number }> };
      };
    };
    const slices = slicesOf(25, 10);
    const expected = await expectedTotals(slices, { seconds: 4, classes: 3, seed: 7 });
    const totals = new Map<number, number>();
    for (const slice of slices) {
      const simulation = new Simulation({
        riders: slice.riders,
        seconds: 4,
        classes: 3,
        speedup: 1,
        seed: 7,
        firstRacerId: slice.firstRacer,
      });
      for (let s = 0; s < 4; s++) {
        for (const m of simulation.buildSecond(s).messages) {
          totals.set(m.racerId, addOutput(totals.get(m.racerId) ?? 0, output(m.cadence, m.resistance)));
          expect(expected.total(m.racerId, s)).toBe(roundScore(totals.get(m.racerId)!));
        }
      }
    }
    expect(totals.size).toBe(25);
  });
});

describe('raceStateLine', () => {
  it('gives the share of race merges that lost a condition and were made again', () => {
    const line = raceStateLine({
      RacesUpdated: 1225,
      StateConflicts: 321,
      StateWrites: 1280,
      StateWritesLost: 55,
      BestWrites: 1000,
    });
    expect(line).toContain('1,225 race merges written, 321 read and merged again');
    expect(line).toContain('(21 % of attempts)');
    expect(line).toContain('0 records handed back');
    expect(raceStateLine({})).toContain('(0 % of attempts)');
  });
});
