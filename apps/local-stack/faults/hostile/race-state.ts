/**
 * What the stored race state says of races whose boards came out wrong: a failure then tells "the state has
 * the racer, the board never showed it" (publishing) from "the state lacks it" (counting). Reads the live
 * item and each race's own item directly (the Lambda's item design: apps/ingest-lambda README § Item design).
 */
import { STATE_TABLE } from '@alleycat/schema';
import { type AttributeValue, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS } from '../../src/kinesis/client.js';

// The Lambda's keys (apps/ingest-lambda/src/constants.ts `KEY`, not exported: this reads its storage from outside).
const LIVE = { pk: 'RACES', sk: 'LIVE' };
const OWN = (raceId: number) => ({ pk: `RACE#${raceId}`, sk: 'BOARD' });
const OPEN = (raceId: number) => ({ pk: 'OPEN_RACES', sk: `RACE#${raceId}` });

/**
 * Strongly consistent reads of the state table by key, on a client of their own (`destroy` when done).
 * dynalite keeps one store whatever the region.
 */
function stateReader(endpoint: string, table: string) {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  return {
    get: async (key: { pk: string; sk: string }) =>
      (
        await client.send(
          new GetItemCommand({
            TableName: table,
            Key: { [STATE_TABLE.partitionKey]: { S: key.pk }, [STATE_TABLE.sortKey]: { S: key.sk } },
            ConsistentRead: true,
          }),
        )
      ).Item,
    destroy: () => client.destroy(),
  };
}

/**
 * One line per race: where its entry lives, its version, racer count and publish slot (or that none exists),
 * and whether the timeout sweep's index still lists it.
 */
export async function describeRaceState(
  endpoint: string,
  table: string,
  raceIds: number[],
): Promise<string[]> {
  const { get, destroy } = stateReader(endpoint, table);
  try {
    const live = await get(LIVE);
    const lines: string[] = [];
    for (const raceId of raceIds) {
      const attribute = `r${raceId}`;
      let where = 'live item';
      let entry = live?.[attribute]?.M;
      const own = (await get(OWN(raceId)))?.[attribute]?.M;
      if (entry?.['racers'] !== undefined && own?.['racers'] !== undefined) {
        // Never meant to happen: each copy would count seconds on its own.
        lines.push(
          `race ${raceId}: IN BOTH the live item (${summary(entry)}) and its own item (${summary(own)})`,
        );
      }
      if (entry === undefined || entry['racers'] === undefined) {
        where = entry === undefined ? 'own item' : 'own item (moved)';
        entry = own;
      }
      const indexed =
        (await get(OPEN(raceId))) !== undefined ? 'in the open-races index' : 'not in the open-races index';
      lines.push(
        entry === undefined
          ? `race ${raceId}: no stored state; ${indexed}`
          : `race ${raceId} (${where}, ${indexed}): ${summary(entry)}`,
      );
    }
    return lines;
  } catch (error) {
    return [`race state could not be read: ${(error as Error).message}`];
  } finally {
    destroy();
  }
}

/** The shared live item's size (DynamoDB's measure: names and values) and what its entries are. */
export async function describeLiveItem(
  endpoint: string,
  table: string,
): Promise<{ bytes: number; races: number; markers: number; ownUntil: number }> {
  const { get, destroy } = stateReader(endpoint, table);
  try {
    const live = await get(LIVE);
    let bytes = 0;
    let races = 0;
    let markers = 0;
    for (const [name, value] of Object.entries(live ?? {})) {
      bytes += Buffer.byteLength(name) + attributeBytes(value);
      if (value.M === undefined) continue;
      if (value.M['racers'] !== undefined) races += 1;
      else if (value.M['movedAt'] !== undefined) markers += 1;
    }
    return { bytes, races, markers, ownUntil: Number(live?.['ownUntil']?.N ?? 0) };
  } finally {
    destroy();
  }
}

/** DynamoDB's size of a value: strings and binaries by length, numbers ~ digits / 2 + 1, maps +3 and names. */
function attributeBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return Math.ceil(value.N.length / 2) + 1;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.M !== undefined)
    return (
      3 + Object.entries(value.M).reduce((n, [k, v]) => n + Buffer.byteLength(k) + attributeBytes(v) + 1, 0)
    );
  if (value.L !== undefined) return 3 + value.L.reduce((n, v) => n + attributeBytes(v) + 1, 0);
  return 0;
}

function summary(entry: Record<string, AttributeValue>): string {
  return Object.entries(entry)
    .filter(([name]) => name !== 'racers')
    .map(([name, value]) => `${name}=${value.N ?? value.S ?? JSON.stringify(value)}`)
    .join(' ');
}
