import { describe, expect, it } from 'vitest';
import { deadlineOf } from '../src/ingest.js';

describe('deadlineOf', () => {
  const at = (remaining: number) => ({ getRemainingTimeInMillis: () => remaining });

  it('answers a tenth of the time left (1–5 s; a quarter of a short one) before the function times out', () => {
    expect(deadlineOf(at(30_000), 1_000)).toBe(1_000 + 27_000);
    expect(deadlineOf(at(900_000), 0)).toBe(895_000);
    expect(deadlineOf(at(5_000), 0)).toBe(4_000);
    // A 1 s or 2 s function keeps most of its time (a fixed 1 s margin left it none).
    expect(deadlineOf(at(990), 0)).toBe(742.5);
    expect(deadlineOf(at(1_990), 0)).toBe(1_492.5);
  });

  it('sets none when the context cannot say (a partial context from a local poller, none at all)', () => {
    expect(deadlineOf(undefined)).toBeUndefined();
    expect(deadlineOf({})).toBeUndefined();
    expect(deadlineOf(at(Number.NaN))).toBeUndefined();
  });
});
