import { describe, expect, it } from 'vitest';
import { deadlineOf } from '../src/ingest.js';

describe('deadlineOf', () => {
  const at = (remaining: number) => ({ getRemainingTimeInMillis: () => remaining });

  it('answers a tenth of the time left (1–5 s) before the function times out', () => {
    expect(deadlineOf(at(30_000), 1_000)).toBe(1_000 + 27_000);
    expect(deadlineOf(at(900_000), 0)).toBe(895_000);
    expect(deadlineOf(at(5_000), 0)).toBe(4_000);
    expect(deadlineOf(at(500), 0)).toBe(0);
  });

  it('sets none when the context cannot say (a partial context from a local poller, none at all)', () => {
    expect(deadlineOf(undefined)).toBeUndefined();
    expect(deadlineOf({})).toBeUndefined();
    expect(deadlineOf(at(Number.NaN))).toBeUndefined();
  });
});
