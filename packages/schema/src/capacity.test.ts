import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  KINESIS_SHARD_WRITE_BYTES_PER_SECOND,
  KINESIS_SHARD_WRITE_RECORDS_PER_SECOND,
  planCapacity,
} from './index.js';

describe('planCapacity', () => {
  it("reproduces the seed's case: 1 shard, bound by records, ~16–20 % of the byte limit", () => {
    const plan = planCapacity({
      riders: 1_000,
      messagesPerSecond: 1,
      averageMessageBytes: 170,
      maxUtilisation: 1,
    });
    expect(plan.shards).toBe(1);
    expect(plan.bindingLimit).toBe('records');
    expect(plan.utilisation.records).toBe(1);
    expect(plan.utilisation.bytes).toBeGreaterThanOrEqual(0.16);
    expect(plan.utilisation.bytes).toBeLessThanOrEqual(0.2);
    expect(plan.putPayloadUnitsPerSecond).toBe(1_000);
  });

  it('keeps 20 % headroom by default, so the seed needs 2 shards', () => {
    const plan = planCapacity({ riders: 1_000 });
    expect(plan.shards).toBe(2);
    expect(plan.input.maxUtilisation).toBe(0.8);
    expect(plan.utilisation.records).toBe(0.5);
  });

  it('plans 40,000 riders in both patterns', () => {
    const single = planCapacity({ riders: 40_000 });
    expect(single).toMatchObject({
      shards: 50,
      bindingLimit: 'records',
      recordsPerSecond: 40_000,
      putPayloadUnitsPerSecond: 40_000,
    });
    const batched = planCapacity({ riders: 40_000, pattern: 'batched' });
    expect(batched).toMatchObject({
      shards: 10,
      bindingLimit: 'records',
      recordsPerSecond: 8_000,
      recordBytes: 850,
    });
    expect(batched.putPayloadUnitsPerSecond).toBe(8_000);
  });

  it('binds on bytes when messages are large', () => {
    const plan = planCapacity({ riders: 1_000, averageMessageBytes: 2_000 });
    expect(plan.bindingLimit).toBe('bytes');
    expect(plan.shards).toBe(plan.shardsNeeded.bytes);
    expect(plan.putPayloadUnitsPerSecond).toBe(1_000);
  });

  it('counts PUT payload units per 25 KiB of record', () => {
    expect(
      planCapacity({ riders: 10, pattern: 'batched', messagesPerRecord: 200, averageMessageBytes: 170 })
        .putPayloadUnitsPerSecond,
    ).toBe((10 / 200) * 2);
  });

  it('ignores a billionth of overshoot as dust, however large the quotient', () => {
    // 131,354.0000049 shards' worth of bytes: 131,354 shards, not 131,355 (fast-check found this one).
    expect(
      planCapacity({
        riders: 138_525,
        averageMessageBytes: 49_714,
        pattern: 'batched',
        messagesPerRecord: 11,
        maxUtilisation: 0.05,
      }).shards,
    ).toBe(131_354);
  });

  it('always plans the fewest shards that stay within maxUtilisation', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200_000 }),
        fc.integer({ min: 20, max: 50_000 }),
        fc.constantFrom('single' as const, 'batched' as const),
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        (riders, averageMessageBytes, pattern, messagesPerRecord, maxUtilisation) => {
          const plan = planCapacity({
            riders,
            averageMessageBytes,
            pattern,
            messagesPerRecord,
            maxUtilisation,
          });
          const fits = (shards: number) =>
            plan.recordsPerSecond <=
              shards * KINESIS_SHARD_WRITE_RECORDS_PER_SECOND * maxUtilisation * (1 + 1e-9) &&
            plan.bytesPerSecond <=
              shards * KINESIS_SHARD_WRITE_BYTES_PER_SECOND * maxUtilisation * (1 + 1e-9);
          expect(fits(plan.shards)).toBe(true);
          if (plan.shards > 1) expect(fits(plan.shards - 1)).toBe(false);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('takes an option given as undefined as its default', () => {
    const plain = planCapacity({ riders: 1_000 });
    const passedThrough = planCapacity({
      riders: 1_000,
      messagesPerSecond: undefined,
      averageMessageBytes: undefined,
      pattern: undefined,
      messagesPerRecord: undefined,
      partitionKeyBytes: undefined,
      maxUtilisation: undefined,
    });
    expect(passedThrough).toEqual(plain);
    // What is not an option is not carried into the plan's input.
    const withExtra = planCapacity({ riders: 1_000, colour: 'red' } as unknown as { riders: number });
    expect(withExtra.input).toEqual(plain.input);
    expect(() => planCapacity(null as unknown as { riders: number })).toThrow(InvalidArgumentError);
  });

  it.each([
    [{ riders: 0 }, 'riders'],
    [{ riders: 1.5 }, 'riders'],
    [{ riders: 10, maxUtilisation: 0 }, 'maxUtilisation'],
    [{ riders: 10, maxUtilisation: 1.2 }, 'maxUtilisation'],
    [{ riders: 10, averageMessageBytes: Number.NaN }, 'averageMessageBytes'],
    [{ riders: 10, pattern: 'hourly' as 'single' }, 'pattern'],
    [
      { riders: 10, pattern: 'batched' as const, messagesPerRecord: 10_000, averageMessageBytes: 1_000 },
      'messagesPerRecord',
    ],
    [{ riders: 10, averageMessageBytes: 2e6 }, 'averageMessageBytes'],
  ])('refuses %o, naming %s', (input, argument) => {
    expect(() => planCapacity(input)).toThrow(InvalidArgumentError);
    try {
      planCapacity(input);
    } catch (error) {
      expect((error as InvalidArgumentError).argument).toBe(argument);
      expect((error as Error).name).toBe('InvalidArgumentError');
    }
  });
});
