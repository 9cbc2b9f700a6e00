import { MAX_CADENCE_RPM, MAX_RESISTANCE_PERCENT, Prng, parseRaceMessage } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { createField, encodeChecked, nextMessage } from '../src/race.js';
import { RaceClock } from '../src/race-clock.js';
import { createRiderProfile, RiderModel } from '../src/rider-model.js';
import { Simulation } from '../src/simulator.js';

function ride(seed: number, racerId: number, seconds: number) {
  const prng = new Prng(seed).fork(racerId);
  const model = new RiderModel(createRiderProfile(racerId, 1, prng), seconds, prng);
  return Array.from({ length: seconds }, (_, s) => model.step(s));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

describe('rider model', () => {
  it('replays exactly from the same seed, and differs with another', () => {
    expect(ride(5, 7, 300)).toEqual(ride(5, 7, 300));
    expect(ride(6, 7, 300)).not.toEqual(ride(5, 7, 300));
  });

  it('stays inside the schema ranges and is believable', () => {
    const finals: number[] = [];
    for (let racer = 1; racer <= 200; racer++) {
      const samples = ride(1, racer, 300);
      const cadence = samples.map((s) => s.cadence);
      const resistance = samples.map((s) => s.resistance);
      expect(Math.min(...cadence)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...cadence)).toBeLessThanOrEqual(MAX_CADENCE_RPM);
      expect(Math.min(...resistance)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...resistance)).toBeLessThanOrEqual(MAX_RESISTANCE_PERCENT);
      // Smooth: no second-to-second jump a real rider could not make; the knob turns a few % at a time.
      const jumps = cadence.slice(1).map((c, s) => Math.abs(c - cadence[s]!));
      expect(Math.max(...jumps)).toBeLessThan(25);
      const turns = resistance.slice(1).map((r, s) => Math.abs(r - resistance[s]!));
      expect(Math.max(...turns)).toBeLessThanOrEqual(4.1);
      // Not a straight ramp: it wobbles.
      expect(sd(cadence.slice(60, 240))).toBeGreaterThan(1);
      // Warm-up: the first seconds are slower than the middle of the race.
      expect(mean(cadence.slice(0, 5))).toBeLessThan(mean(cadence.slice(100, 200)));
      finals.push(mean(cadence.slice(100, 200)));
    }
    // Riders differ from each other (cruising cadence spread of several rpm).
    expect(sd(finals)).toBeGreaterThan(4);
  });
});

describe('field and messages', () => {
  it('gives unique racerIds across classes, one race per class, and valid messages with final last', () => {
    const field = createField({ riders: 100, classes: 6, seconds: 10, seed: 1, raceIdBase: 5000 });
    expect(new Set(field.map((r) => r.profile.racerId)).size).toBe(100);
    expect(new Set(field.map((r) => r.profile.classId))).toEqual(new Set([1, 2, 3, 4, 5, 6]));
    for (const racer of field) expect(racer.raceId).toBe(5000 + racer.profile.classId);
    const racer = field[0]!;
    const events = Array.from({ length: 10 }, (_, s) => nextMessage(racer, s, 10, 1_000_000 + s * 1000));
    expect(events.map((m) => m.event)).toEqual([...new Array(9).fill('update'), 'final']);
    for (const m of events) {
      const parsed = parseRaceMessage(encodeChecked(m));
      expect(parsed.ok && parsed.message).toEqual(m);
    }
  });

  it('refuses to send a message that breaks the schema', () => {
    const racer = createField({ riders: 1, classes: 1, seconds: 10, seed: 1, raceIdBase: 0 })[0]!;
    const bad = { ...nextMessage(racer, 0, 10, 0), cadence: 900 };
    expect(() => encodeChecked(bad)).toThrow(/out_of_range at \/cadence/);
    const named = { ...nextMessage(racer, 1, 10, 0), name: 'é'.repeat(65) };
    expect(() => encodeChecked(named)).toThrow(/out_of_range at \/name/);
  });
});

describe('race clock', () => {
  it('ticks every second in order, sped up, without drift', async () => {
    const clock = new RaceClock({ seconds: 20, speedup: 200, startMs: 1_000 });
    const started = performance.now();
    const seen: number[] = [];
    for await (const s of clock.ticks()) seen.push(s);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, s) => s));
    expect(performance.now() - started).toBeGreaterThanOrEqual(19 * 5 - 2); // 19 intervals of 5 ms
    expect(clock.deviceTimestampOf(3)).toBe(4_000);
  });

  it('stops when aborted', async () => {
    const clock = new RaceClock({ seconds: 1000, speedup: 1 });
    const abort = new AbortController();
    const seen: number[] = [];
    setTimeout(() => abort.abort(), 50);
    for await (const s of clock.ticks(abort.signal)) seen.push(s);
    expect(seen).toEqual([0]);
  });

  it('builds a second for every rider in a simulation', () => {
    const sim = new Simulation({
      riders: 40,
      seconds: 5,
      classes: 3,
      speedup: 1,
      seed: 'abc',
      startMs: 1_764_000_000_000,
    });
    const { messages, payloads } = sim.buildSecond(0);
    expect(messages).toHaveLength(40);
    expect(payloads.every((p) => parseRaceMessage(p).ok)).toBe(true);
    expect(sim.raceIds).toEqual([1_764_000_000_001, 1_764_000_000_002, 1_764_000_000_003]);
  });
});
