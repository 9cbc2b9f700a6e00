/**
 * `node --import tsx bench/parts.ts`: this package's own steps in isolation, per racer or message (grouping,
 * merge, board codec, leaderboard build), median of 9 runs in CPU time — for tuning, not the ratios.
 */

import { parseRaceRecord, type RaceMessage } from '@alleycat/schema';
import { addToGroup, leaderboardFor, mergeGroup, newBoard, newRaceGroup } from '../src/board.js';
import { decodeRacers, encodeRacers } from '../src/board-codec.js';
import { batches, T0 } from './corpus.js';

const SECONDS = 30;
const list = batches({ racers: 1_000, races: 1, seconds: SECONDS, shards: 1 });
const msgs = list.map((b) =>
  b.event.Records.map((r) => {
    const parsed = parseRaceRecord(Buffer.from(r.kinesis.data, 'base64'));
    if (!parsed.ok) throw new Error(parsed.error.message);
    return parsed.messages[0] as RaceMessage;
  }),
);
function t(name: string, n: number, f: () => unknown) {
  const res: number[] = [];
  for (let w = 0; w < 9; w++) {
    const st = process.cpuUsage();
    f();
    const u = process.cpuUsage(st);
    res.push(((u.user + u.system) * 1000) / n);
  }
  res.sort((a, b) => a - b);
  console.log(name.padEnd(28), res[4]!.toFixed(0), 'ns (min', `${res[0]!.toFixed(0)})`);
}
t('group', 1000 * SECONDS, () => {
  for (const ms of msgs) {
    const g = newRaceGroup(1);
    for (let i = 0; i < ms.length; i++) addToGroup(g, ms[i]!, i, T0);
  }
});
const groups = msgs.map((ms) => {
  const g = newRaceGroup(ms[0]!.raceId);
  for (const [i, m] of ms.entries()) addToGroup(g, m, i, T0 + m.second * 1000);
  return g;
});
t('merge', 1000 * SECONDS, () => {
  const b = newBoard(msgs[0]![0]!.raceId, msgs[0]![0]!.classId, T0);
  for (const g of groups) mergeGroup(b, g, 120000);
});
const board = newBoard(msgs[0]![0]!.raceId, msgs[0]![0]!.classId, T0);
for (const g of groups) mergeGroup(board, g, 120000);
t('encodeRacers', 1000 * 30, () => {
  for (let k = 0; k < 30; k++) encodeRacers(board.racers.values(), board.lastArrivalMs);
});
const blob = encodeRacers(board.racers.values(), board.lastArrivalMs);
t('decodeRacers', 1000 * 30, () => {
  for (let k = 0; k < 30; k++) decodeRacers(blob, board.lastArrivalMs);
});
t('leaderboardFor (no names)', 1000 * 30, () => {
  for (let k = 0; k < 30; k++) leaderboardFor(board, T0 + 1, false);
});
t('leaderboardFor (names)', 1000 * 30, () => {
  for (let k = 0; k < 30; k++) leaderboardFor(board, T0, true);
});
