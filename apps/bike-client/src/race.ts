/**
 * Riders in races: who rides which class, and the race messages their seconds become. Messages are built
 * with the schema's types and checked with its parser (which enforces `RACE_MESSAGE_MAX_BYTES`) before they
 * leave: a message that fails is a bug here and is never sent.
 */
import { encodeRaceMessage, Prng, parseRaceMessage, type RaceMessage } from '@alleycat/schema';
import { InvalidMessageError } from './errors.js';
import { createRiderProfile, RiderModel } from './rider-model.js';
import type { RiderProfile } from './types.js';

export interface Racer {
  profile: RiderProfile;
  raceId: number;
  model: RiderModel;
  prng: Prng;
}

export interface FieldOptions {
  riders: number;
  classes: number;
  seconds: number;
  seed: number | string;
  /** racerIds are `firstRacerId … firstRacerId + riders − 1`: unique across classes. Default 1. */
  firstRacerId?: number;
  /** raceId of class c is `raceIdBase + c`. Default: the start second × 1,000. */
  raceIdBase: number;
}

/** The riders of a simulation: racer i rides class `1 + (i mod classes)`, one race per class. */
export function createField(options: FieldOptions): Racer[] {
  const root = new Prng(options.seed);
  const first = options.firstRacerId ?? 1;
  return Array.from({ length: options.riders }, (_, i) => {
    const racerId = first + i;
    const classId = 1 + (i % options.classes);
    return createRacer(racerId, classId, options.raceIdBase + classId, options.seconds, root.fork(racerId));
  });
}

export function createRacer(
  racerId: number,
  classId: number,
  raceId: number,
  seconds: number,
  prng: Prng,
  name?: string,
): Racer {
  const profile = createRiderProfile(racerId, classId, prng);
  if (name !== undefined) profile.name = name;
  return { profile, raceId, model: new RiderModel(profile, seconds, prng), prng };
}

/** The message of `racer` for race second `second` of a `seconds`-long race (`final` on the last). */
export function nextMessage(
  racer: Racer,
  second: number,
  seconds: number,
  deviceTimestamp: number,
): RaceMessage {
  const sample = racer.model.step(second);
  return {
    uuid: racer.prng.uuid(),
    event: second === seconds - 1 ? 'final' : 'update',
    deviceTimestamp,
    second,
    raceId: racer.raceId,
    name: racer.profile.name,
    racerId: racer.profile.racerId,
    classId: racer.profile.classId,
    cadence: sample.cadence,
    resistance: sample.resistance,
  };
}

/** The wire form of `message`, validated against the schema and its byte budget. */
export function encodeChecked(message: RaceMessage): string {
  const json = encodeRaceMessage(message);
  const result = parseRaceMessage(json);
  if (!result.ok) throw new InvalidMessageError(result.error);
  return json;
}
