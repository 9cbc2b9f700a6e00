/** DESIGN § Identities: a bike's MQTT client id and IoT thing name are `racer-{racerId}`. */
import type { ParseError } from './errors.js';

export const RACER_CLIENT_ID_PREFIX = 'racer-';

/** The MQTT client id (and IoT thing name) of a rider's bike. */
export function clientIdFor(racerId: number): string {
  return `${RACER_CLIENT_ID_PREFIX}${racerId}`;
}

/**
 * `identity_mismatch` when the ingest rule recorded a client id that is not the racer's own, else undefined.
 * Records without a client id (put straight into Kinesis by IAM-authorised producers) pass.
 */
export function checkIdentity(record: { racerId: number; clientId?: string }): ParseError | undefined {
  if (record.clientId === undefined || record.clientId === clientIdFor(record.racerId)) return undefined;
  return {
    code: 'identity_mismatch',
    path: '/clientId',
    message: `sender "${record.clientId}" may only publish as racer ${record.clientId.startsWith(RACER_CLIENT_ID_PREFIX) ? record.clientId.slice(RACER_CLIENT_ID_PREFIX.length) : '(none)'}, not racer ${record.racerId} (expected client id "${clientIdFor(record.racerId)}")`,
  };
}
