/**
 * A rider, second by second: believable cadence (rpm) and resistance (%) from a seeded generator, so a race
 * replays exactly. Cadence follows a mean-reverting random walk (Ornstein–Uhlenbeck) around a target that
 * warms up, fades with fatigue, jumps in occasional surges and rises in a final sprint; resistance moves in
 * knob turns between levels the rider picks now and then. All values stay inside the schema's ranges.
 */

import type { Prng } from '@alleycat/schema';
import { MAX_CADENCE_RPM, MAX_RESISTANCE_PERCENT } from '@alleycat/schema';
import type { RiderProfile, RiderSample } from './types.js';

const FIRST_NAMES = [
  'Ada',
  'Bo',
  'Caro',
  'Dev',
  'Eli',
  'Fen',
  'Gia',
  'Hal',
  'Ines',
  'Jun',
  'Kit',
  'Lou',
  'Mara',
  'Nico',
  'Oona',
  'Pia',
  'Quin',
  'Rafa',
  'Sol',
  'Tove',
  'Uma',
  'Vic',
  'Wren',
  'Xavi',
  'Yui',
  'Zoe',
  'Ayşe',
  'Łucja',
];
const INITIALS = 'ABCDEFGHIJKLMNOPRSTVWZ';

/** A rider's profile drawn from `prng` (deterministic for a given seed and racer). */
export function createRiderProfile(racerId: number, classId: number, prng: Prng): RiderProfile {
  return {
    racerId,
    classId,
    name: `${prng.pick(FIRST_NAMES)} ${INITIALS[prng.int(0, INITIALS.length - 1)]}.`,
    baseCadence: clamp(80 + 10 * prng.normal(), 55, 115),
    baseResistance: clamp(45 + 12 * prng.normal(), 15, 85),
    endurance: prng.between(0.3, 1),
    punch: prng.between(0.2, 1),
    jitter: prng.between(0.8, 2.5),
  };
}

const clamp = (x: number, min: number, max: number) => Math.min(max, Math.max(min, x));
const round1 = (x: number) => Math.round(x * 10) / 10;
/** Smooth 0→1 over [0, 1] (no kink at the ends, unlike the seed's straight ramps). */
const ease = (t: number) => {
  const x = clamp(t, 0, 1);
  return x * x * (3 - 2 * x);
};

export class RiderModel {
  readonly profile: RiderProfile;
  private readonly prng: Prng;
  private readonly raceSeconds: number;
  private cadence: number;
  private resistance: number;
  private resistanceTarget: number;
  private nextKnobTurn: number;
  private surgeStart = -1;
  private surgeLength = 0;
  private surgeGain = 0;
  private readonly sprintFrom: number;

  constructor(profile: RiderProfile, raceSeconds: number, prng: Prng) {
    this.profile = profile;
    this.prng = prng;
    this.raceSeconds = Math.max(1, raceSeconds);
    this.cadence = profile.baseCadence * prng.between(0.35, 0.6);
    this.resistance = clamp(profile.baseResistance - 10, 5, MAX_RESISTANCE_PERCENT);
    this.resistanceTarget = profile.baseResistance;
    this.nextKnobTurn = prng.int(15, 45);
    this.sprintFrom = this.raceSeconds * prng.between(0.88, 0.95);
  }

  /** The sample of race second `second` (call once per second, in order). */
  step(second: number): RiderSample {
    const { profile, prng } = this;
    const progress = second / this.raceSeconds;

    // Cadence target: warm-up over the first ~8 % (at least 10 s), fatigue fade, surges, final sprint.
    const warmUp = 0.55 + 0.45 * ease(second / Math.max(10, this.raceSeconds * 0.08));
    const fatigue = 1 - (1 - profile.endurance) * 0.12 * progress;
    let target = profile.baseCadence * warmUp * fatigue;

    if (this.surgeStart < 0 && second > 20 && second < this.sprintFrom && prng.next() < 1 / 75) {
      this.surgeStart = second;
      this.surgeLength = prng.int(8, 30);
      this.surgeGain = 8 + 14 * profile.punch * prng.next();
    }
    if (this.surgeStart >= 0) {
      const t = (second - this.surgeStart) / this.surgeLength;
      if (t >= 1) this.surgeStart = -1;
      else target += this.surgeGain * Math.sin(Math.PI * t);
    }
    if (second >= this.sprintFrom) {
      target += 25 * profile.punch * ease((second - this.sprintFrom) / (this.raceSeconds - this.sprintFrom));
    }

    // Mean reversion plus wobble; heavier resistance slows the legs a little.
    const load = (this.resistance - profile.baseResistance) * 0.15;
    this.cadence += 0.3 * (target - load - this.cadence) + profile.jitter * prng.normal();
    this.cadence = clamp(this.cadence, 0, MAX_CADENCE_RPM);

    // Resistance: a new level now and then; the knob turns at most 4 %/s towards it.
    if (second >= this.nextKnobTurn) {
      this.resistanceTarget = clamp(profile.baseResistance + 12 * prng.normal(), 5, 95);
      this.nextKnobTurn = second + prng.int(20, 70);
    }
    const delta = clamp(this.resistanceTarget - this.resistance, -4, 4);
    this.resistance = clamp(this.resistance + delta, 0, MAX_RESISTANCE_PERCENT);

    return { cadence: round1(this.cadence), resistance: round1(this.resistance) };
  }
}
