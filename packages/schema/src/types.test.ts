/**
 * The hand-written types (documented for partners) must equal what the definitions describe: a drift fails
 * `pnpm typecheck` here, and the runtime assertions keep vitest honest about the file being run.
 */
import { describe, expect, it } from 'vitest';
import type { WireInput } from './decode.js';
import type { LEADERBOARD_MESSAGE, RACE_BATCH, RACE_MESSAGE, RACE_SAMPLE } from './definitions.js';
import { parseRaceRecord } from './race-message.js';
import type { InferSpec } from './spec.js';
import type { LeaderboardMessage, RaceBatch, RaceMessage, RaceSample } from './types.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Strip<T> = T extends readonly unknown[]
  ? { [K in keyof T]: Strip<T[K]> }
  : T extends object
    ? { [K in keyof T]: Strip<T[K]> }
    : T;

const checks = {
  message: true as Equal<Strip<InferSpec<typeof RACE_MESSAGE>>, Strip<RaceMessage>>,
  sample: true as Equal<Strip<InferSpec<typeof RACE_SAMPLE>>, Strip<RaceSample>>,
  batch: true as Equal<Strip<InferSpec<typeof RACE_BATCH>>, Strip<RaceBatch>>,
  leaderboard: true as Equal<Strip<InferSpec<typeof LEADERBOARD_MESSAGE>>, Strip<LeaderboardMessage>>,
} satisfies Record<string, true>;

describe('types', () => {
  it('match their definitions', () => {
    expect(Object.values(checks).every(Boolean)).toBe(true);
  });

  it('let parseRaceRecord take any wire input, as the other parse functions do', () => {
    // Type-checked: a `string | Buffer` or a `WireInput` once matched neither of its overloads.
    const inputs: (WireInput | string | Buffer)[] = ['{}', Buffer.from('{}'), new Uint8Array([0x7b, 0x7d])];
    expect(inputs.map((input) => parseRaceRecord(input).ok)).toEqual([false, false, false]);
  });
});
