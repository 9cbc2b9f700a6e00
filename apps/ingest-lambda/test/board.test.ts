import { output } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import {
  addToGroup,
  closeIdleRace,
  isRaceClosed,
  leaderboardFor,
  mergeMessages,
  newBoard,
  newRaceGroup,
  type RaceBoard,
  type RacerState,
  racersAwaited,
  roundArrived,
  roundOverdue,
  roundSecondOf,
} from '../src/board.js';
import { decodeRacers, encodeRacers } from '../src/board-codec.js';
import { LATE_SHARD_WAIT_MS } from '../src/constants.js';
import { SecondSet } from '../src/second-set.js';
import type { SourcedMessage } from '../src/types.js';
import { raceMessage } from './helpers/events.js';

const T0 = 1_764_250_000_000;
const TIMEOUT = 60_000;

const sourced = (raceId: number, racerId: number, second: number, extra = {}): SourcedMessage => {
  const message = raceMessage(raceId, racerId, second, extra);
  return { message, recordIndex: 0, arrivalMs: T0 + second * 1000 };
};

function expectedTotal(racerId: number, seconds: Iterable<number>): number {
  let total = 0;
  for (const s of new Set(seconds)) {
    const m = raceMessage(1, racerId, s);
    total += output(m.cadence, m.resistance);
  }
  return total;
}

describe('mergeMessages', () => {
  it('counts each second once, whatever the duplicates and order', () => {
    const board = newBoard(1, 3, T0);
    const seconds = [0, 1, 2, 2, 5, 3, 1, 4, 0, 5];
    const result = mergeMessages(
      board,
      seconds.map((s) => sourced(1, 42, s)),
      TIMEOUT,
    );
    const racer = board.racers.get(42)!;
    expect(result.secondsCounted).toBe(6);
    expect(result.duplicates).toBe(4);
    expect(racer.count).toBe(6);
    expect(racer.total).toBeCloseTo(expectedTotal(42, seconds), 9);
    expect(racer.latestSecond).toBe(5);
    const m5 = raceMessage(1, 42, 5);
    expect(racer.current).toBe(output(m5.cadence, m5.resistance));
    const outputs = [0, 1, 2, 3, 4, 5].map((s) => {
      const m = raceMessage(1, 42, s);
      return output(m.cadence, m.resistance);
    });
    expect(racer.max).toBe(Math.max(...outputs));
  });

  it('a replay of the same messages changes nothing (idempotent across invocations)', () => {
    const board = newBoard(1, 3, T0);
    const list = [0, 1, 2, 3].map((s) => sourced(1, 7, s));
    mergeMessages(board, list, TIMEOUT);
    const before = encodeRacers(board.racers.values(), board.lastArrivalMs);
    const replay = mergeMessages(board, list, TIMEOUT);
    expect(replay.changed).toBe(false);
    expect(replay.secondsCounted).toBe(0);
    expect(replay.duplicates).toBe(4);
    expect(encodeRacers(board.racers.values(), board.lastArrivalMs)).toEqual(before);
  });

  it('a late second does not replace the current output of a later one', () => {
    const board = newBoard(1, 3, T0);
    mergeMessages(board, [sourced(1, 7, 10)], TIMEOUT);
    const current = board.racers.get(7)!.current;
    mergeMessages(board, [sourced(1, 7, 3)], TIMEOUT);
    expect(board.racers.get(7)!.current).toBe(current);
    expect(board.racers.get(7)!.latestSecond).toBe(10);
    expect(board.racers.get(7)!.count).toBe(2);
  });

  it('final closes the racer; seconds after it still count; a duplicate final is not a change', () => {
    const board = newBoard(1, 3, T0);
    const r1 = mergeMessages(board, [sourced(1, 7, 0), sourced(1, 7, 1, { event: 'final' })], TIMEOUT);
    expect(board.racers.get(7)!.closed).toBe('final');
    expect(r1.racersClosed).toBe(1);
    expect(isRaceClosed(board)).toBe(true);

    const r2 = mergeMessages(board, [sourced(1, 7, 2)], TIMEOUT);
    expect(r2.secondsCounted).toBe(1);
    expect(board.racers.get(7)!.count).toBe(3);

    const r3 = mergeMessages(board, [sourced(1, 7, 1, { event: 'final' })], TIMEOUT);
    expect(r3.changed).toBe(false);
  });

  it('closes racers silent for longer than the timeout while the race goes on', () => {
    const board = newBoard(1, 3, T0);
    mergeMessages(board, [sourced(1, 1, 0), sourced(1, 2, 0)], TIMEOUT);
    const later: SourcedMessage[] = [];
    for (let s = 1; s <= 61; s++) later.push(sourced(1, 2, s));
    const result = mergeMessages(board, later, TIMEOUT);
    expect(board.racers.get(1)!.closed).toBe('timeout');
    expect(board.racers.get(2)!.closed).toBeUndefined();
    expect(result.racersClosed).toBe(1);
    expect(isRaceClosed(board)).toBe(false);
    expect(closeIdleRace(board)).toEqual([2]);
    expect(isRaceClosed(board)).toBe(true);
  });

  it('rejects a message whose class contradicts the race', () => {
    const board = newBoard(1, 3, T0);
    const result = mergeMessages(board, [sourced(1, 7, 0), sourced(1, 8, 0, { classId: 4 })], TIMEOUT);
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected[0]!.reason.code).toBe('class_mismatch');
    expect(board.racers.has(8)).toBe(false);
  });
});

describe('board codec', () => {
  it('round-trips racers exactly, including gaps, names and close reasons', () => {
    const board: RaceBoard = newBoard(9, 3, T0);
    const list: SourcedMessage[] = [];
    for (let racer = 0; racer < 50; racer++) {
      for (let s = 0; s < 40; s++)
        if ((s * 7 + racer) % 11 !== 0) list.push(sourced(9, racer * 1_000_003, s));
    }
    list.push(sourced(9, 5_000_015, 40, { event: 'final', name: 'Zoë «fast» 🚲' }));
    list.push(sourced(9, 2 ** 53 - 1, 3, { name: 'max id' }));
    mergeMessages(board, list, TIMEOUT);
    const bytes = encodeRacers(board.racers.values(), board.lastArrivalMs);
    const back = decodeRacers(bytes, board.lastArrivalMs);
    expect(back.size).toBe(board.racers.size);
    for (const [id, r] of board.racers) expect(back.get(id)).toEqual(r);
  });

  it('holds 1,000 racers × 300 seconds in well under DynamoDB’s 400 KB', () => {
    const board = newBoard(1, 3, T0);
    const list: SourcedMessage[] = [];
    for (let s = 0; s < 300; s++) for (let racer = 0; racer < 1_000; racer++) list.push(sourced(1, racer, s));
    mergeMessages(board, list, TIMEOUT);
    const bytes = encodeRacers(board.racers.values(), board.lastArrivalMs);
    expect(bytes.length).toBeLessThan(60 * 1024);
  });

  it('writes format 1 byte for byte as boards already stored hold it (and reads it back)', () => {
    // Recorded from the encoder before it was rewritten for speed: stored boards must stay readable, and a
    // board written by a new Lambda must be readable by one still running the old code.
    const racers: RacerState[] = [
      {
        racerId: 7,
        name: 'Hayden',
        total: 1234.56,
        max: 99.5,
        current: 88.25,
        latestSecond: 40,
        count: 38,
        lastArrivalMs: T0 - 120,
        seen: new SecondSet([0, 10, 12, 30, 33, 40]),
      },
      {
        racerId: 2 ** 53 - 1,
        name: 'Zoë «fast» 🚲',
        total: 0.1 + 0.2,
        max: 1e-7,
        current: 5e300,
        latestSecond: -1,
        count: 0,
        lastArrivalMs: T0,
        seen: new SecondSet([]),
        closed: 'final',
      },
      {
        racerId: 300,
        name: '',
        total: 22.75,
        max: 22.75,
        current: 22.75,
        latestSecond: 0,
        count: 1,
        lastArrivalMs: T0 - 3_000_000_000,
        seen: new SecondSet([0, 0]),
        closed: 'timeout',
      },
    ];
    const golden =
      '0103070ad7a3703d4a93400000000000e058400000000000105640292600780648617964656e03000a02120307ffffffffffffff0f343333333333d33f48afbc9af2d77a3e039300aa4bdd5d7e00000100125a6fc3ab20c2ab66617374c2bb20f09f9ab200ac020000000000c036400000000000c036400000000000c0364001010280bcc1960b00010000';
    expect(Buffer.from(encodeRacers(racers, T0)).toString('hex')).toBe(golden);
    expect([...decodeRacers(Buffer.from(golden, 'hex'), T0).values()]).toEqual(racers);
  });

  it('decodes each racer’s name as stored, also when it changed since the last decode', () => {
    // Names are remembered by racer between decodes; a changed name, including a look-alike whose Latin-1
    // reading matches the new bytes ("Ã©" against the UTF-8 of "é"), must come out as stored.
    const board = newBoard(9, 3, T0);
    const decodeAs = (name: string) => {
      board.racers.clear();
      mergeMessages(board, [sourced(9, 77, 0, { name })], TIMEOUT);
      const bytes = encodeRacers(board.racers.values(), board.lastArrivalMs);
      return decodeRacers(bytes, board.lastArrivalMs).get(77)!.name;
    };
    for (const name of ['Ana', 'Ana', 'Anna', 'Ã©', 'é', 'é', 'Zoë 🚲', 'Zoe', ''])
      expect(decodeAs(name)).toBe(name);
  });

  it('refuses malformed data', () => {
    expect(() => decodeRacers(Uint8Array.of(2, 0), 0)).toThrow(/format/);
    expect(() => decodeRacers(Uint8Array.of(1, 1, 5), 0)).toThrow(RangeError);
  });
});

describe('leaderboardFor', () => {
  it('ranks racers by total and marks a closed race', () => {
    const board = newBoard(1, 3, T0);
    mergeMessages(
      board,
      [sourced(1, 1, 0), sourced(1, 2, 0), sourced(1, 2, 1), sourced(1, 1, 1, { event: 'final' })],
      TIMEOUT,
    );
    const [message, ...rest] = leaderboardFor(board, T0 + 5_000, true);
    expect(rest).toHaveLength(0);
    expect(message!.raceId).toBe(1);
    expect(message!.classId).toBe(3);
    expect(message!.second).toBe(1);
    expect(message!.racers).toBe(2);
    expect(message!.closed).toBe(false);
    expect(message!.standings.map((s) => s[4])).toEqual([1, 2]);
    expect(message!.names).toEqual(expect.arrayContaining([[1, 'Rider 1']]));
  });
});

describe('rounds of a race', () => {
  it('a round is in once every racer that had reached the second before it has reached its second', () => {
    const board = newBoard(1, 3, T0);
    // Racers 1–3 at seconds 3 and 4; racer 4 fell silent at second 1 (not awaited).
    mergeMessages(
      board,
      [3, 4].flatMap((s) => [1, 2, 3].map((racerId) => sourced(1, racerId, s))),
      TIMEOUT,
    );
    mergeMessages(board, [sourced(1, 4, 1)], TIMEOUT);
    const claim = { ...board.publish, claimedAtMs: T0, second: 5, expected: racersAwaited(board, 5) };
    expect(claim.expected).toBe(3);
    // Racers 1 and 2 in (from two shards, say); racer 3 still at 4.
    mergeMessages(board, [sourced(1, 1, 5), sourced(1, 2, 5)], TIMEOUT);
    expect(roundArrived(board, claim)).toBe(false);
    // A newcomer whose first second is the round's cannot stand in for racer 3.
    mergeMessages(board, [sourced(1, 9, 5)], TIMEOUT);
    expect(roundArrived(board, claim)).toBe(false);
    // Racer 3 ends its race with a `final` at second 5: in (a racer that closed on the round counts).
    mergeMessages(board, [sourced(1, 3, 5, { event: 'final' })], TIMEOUT);
    expect(roundArrived(board, claim)).toBe(true);
    // The next round awaits the open racers at second 5 (the newcomer now too), not the closed one; a
    // racer running a second ahead is in already.
    mergeMessages(board, [sourced(1, 1, 6)], TIMEOUT);
    const next = { ...claim, second: 6, expected: racersAwaited(board, 6) };
    expect(next.expected).toBe(3);
    mergeMessages(board, [sourced(1, 2, 6), sourced(1, 9, 6)], TIMEOUT);
    expect(roundArrived(board, next)).toBe(true);
  });

  it('an overdue round waits the settle delay for a few late racers, up to 900 ms for a late shard', () => {
    const board = newBoard(1, 3, T0);
    // 100 racers at second 4; a claim for round 5 awaits all of them.
    mergeMessages(
      board,
      Array.from({ length: 100 }, (_, r) => sourced(1, r, 4)),
      TIMEOUT,
    );
    const claim = { ...board.publish, claimedAtMs: T0, second: 5, expected: racersAwaited(board, 5) };
    expect(claim.expected).toBe(100);
    const SETTLE = 400;
    // 97 in, 3 missing (≤ 5 %: bikes that dropped a message): overdue once the settle delay has passed.
    mergeMessages(
      board,
      Array.from({ length: 97 }, (_, r) => sourced(1, r, 5)),
      TIMEOUT,
    );
    expect(roundOverdue(board, claim, T0 + SETTLE - 1, SETTLE)).toBe(false);
    expect(roundOverdue(board, claim, T0 + SETTLE, SETTLE)).toBe(true);
    // 50 missing (a shard's racers behind another's): it waits on, to LATE_SHARD_WAIT_MS.
    const half = newBoard(1, 3, T0);
    mergeMessages(
      half,
      Array.from({ length: 100 }, (_, r) => sourced(1, r, 4)),
      TIMEOUT,
    );
    mergeMessages(
      half,
      Array.from({ length: 50 }, (_, r) => sourced(1, r, 5)),
      TIMEOUT,
    );
    expect(roundOverdue(half, claim, T0 + SETTLE, SETTLE)).toBe(false);
    expect(roundOverdue(half, claim, T0 + LATE_SHARD_WAIT_MS - 1, SETTLE)).toBe(false);
    expect(roundOverdue(half, claim, T0 + LATE_SHARD_WAIT_MS, SETTLE)).toBe(true);
    // A settle delay at or above it is kept as set; a round that awaits nobody is overdue at the settle delay.
    expect(roundOverdue(half, claim, T0 + 950, 950)).toBe(true);
    expect(roundOverdue(half, { ...claim, expected: 0 }, T0 + SETTLE, SETTLE)).toBe(true);
  });

  it('a round stands for the commonest second of its records, not a clock running ahead', () => {
    const group = newRaceGroup(1);
    for (const [racerId, second] of [
      [1, 8],
      [2, 8],
      [3, 30], // a bike whose race clock is ahead
      [4, 7],
      [5, 8],
    ] as const) {
      addToGroup(group, raceMessage(1, racerId, second), racerId, T0);
    }
    expect(roundSecondOf(group)).toBe(8);
    addToGroup(group, raceMessage(1, 6, 7), 6, T0);
    addToGroup(group, raceMessage(1, 7, 7), 7, T0);
    expect(roundSecondOf(group)).toBe(8); // a tie goes to the later second
    expect(roundSecondOf(newRaceGroup(1))).toBe(-1);
    // A backlog of many seconds (counted another way past the first few): the same rule.
    const backlog = newRaceGroup(1);
    for (let second = 0; second < 40; second++)
      addToGroup(backlog, raceMessage(1, 100 + second, second), 0, T0);
    for (const second of [30, 30, 3]) addToGroup(backlog, raceMessage(1, 1, second), 0, T0);
    expect(roundSecondOf(backlog)).toBe(30);
    addToGroup(backlog, raceMessage(1, 2, 3), 0, T0);
    expect(roundSecondOf(backlog)).toBe(30); // 3 and 30 tie at three: the later second
  });
});
