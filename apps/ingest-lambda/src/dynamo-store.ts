/**
 * The race state in DynamoDB (one table, `pk`/`sk`, TTL on `expiresAt`; README § Item design):
 * - board   `RACE#{raceId}` / `BOARD`                 every racer's score and counted seconds (binary)
 * - best    `RACER#{racerId}` / `BEST#CLASS#{classId}` a racer's all-time best total in a class
 * - open    `OPEN_RACES` / `RACE#{raceId}`            races not yet closed, for the timeout sweep
 */

import { STATE_TABLE } from '@alleycat/schema';
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { PublishState, RaceBoard } from './board.js';
import { BoardCache } from './board-cache.js';
import { decodeRacers, encodeRacers } from './board-codec.js';
import { isRetryable } from './classify.js';
import { forEachLimit, sleep } from './concurrency.js';
import {
  BATCH_GET_CONCURRENCY,
  BATCH_GET_MAX_KEYS,
  KEY,
  MAX_BATCH_GET_ATTEMPTS,
  MAX_BOARD_ITEM_BYTES,
  RACE_STATE_TTL_SECONDS,
} from './constants.js';
import { BoardTooLargeError, CorruptBoardError, DependencyError } from './errors.js';
import {
  type BoardExpectation,
  bestKey,
  type OpenRace,
  type SealOutcome,
  type StateStore,
  type WriteStats,
} from './state-store.js';

const PK = STATE_TABLE.partitionKey;
const SK = STATE_TABLE.sortKey;
const TTL = STATE_TABLE.ttlAttribute;
const KB = 1024;
/** Bytes of a board item besides the racers blob: key and scalar names and values (generous). */
const BOARD_OVERHEAD_BYTES = 200;

/** Returned instead of throwing when a condition did not hold: losing a race is not an error. */
const CONDITION_FAILED = Symbol('condition failed');

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });

function num(item: Record<string, AttributeValue>, name: string, fallback?: number): number {
  const v = item[name]?.N;
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new RangeError(`attribute ${name} missing`);
  }
  return Number(v);
}

/** `name = :placeholder`, or "never set" when the value read was 0 (the attribute is written on first use). */
function matches(name: string, placeholder: string, value: number): string {
  return value === 0 ? `attribute_not_exists(${name})` : `${name} = ${placeholder}`;
}

function boardKey(raceId: number): Record<string, AttributeValue> {
  return { [PK]: S(`${KEY.racePrefix}${raceId}`), [SK]: S(KEY.boardSort) };
}

function bestItemKey(racerId: number, classId: number): Record<string, AttributeValue> {
  return { [PK]: S(`${KEY.racerPrefix}${racerId}`), [SK]: S(`${KEY.bestPrefix}${classId}`) };
}

function readSlot(item: Record<string, AttributeValue>): PublishState {
  return {
    claimedAtMs: num(item, 'pubAt', 0),
    sealedAtMs: num(item, 'sealAt', 0),
    sentAtMs: num(item, 'sentAt', 0),
    version: num(item, 'pubV', 0),
    racers: num(item, 'pubN', 0),
    second: num(item, 'pubS', 0),
    expected: num(item, 'pubE', 0),
  };
}

function expiresAt(lastArrivalMs: number): number {
  return Math.floor(lastArrivalMs / 1000) + RACE_STATE_TTL_SECONDS;
}

export class DynamoStateStore implements StateStore {
  readonly stats: WriteStats = { writes: 0, writeUnits: 0, conditionalFailures: 0 };
  private readonly cache = new BoardCache();
  /** Size of each board last read or written here, to count what a slot update on the item bills. */
  private readonly lastBoardBytes = new Map<number, number>();

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** Runs one request, counting writes and turning failures into `DependencyError`s (retryable or not). */
  private async send<T>(
    operation: string,
    run: () => Promise<T>,
    writeBytes?: number,
  ): Promise<T | typeof CONDITION_FAILED> {
    if (writeBytes !== undefined) {
      this.stats.writes++;
      this.stats.writeUnits += Math.max(1, Math.ceil(writeBytes / KB));
    }
    try {
      return await run();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        this.stats.conditionalFailures++;
        return CONDITION_FAILED;
      }
      throw new DependencyError(`DynamoDB ${operation}`, error, isRetryable(error));
    }
  }

  /** A board item as a `RaceBoard`; `peek` reads the decode cache without taking the entry (publish only). */
  private toBoard(raceId: number, item: Record<string, AttributeValue>, peek: boolean): RaceBoard {
    try {
      const lastArrivalMs = num(item, 'lastArrival');
      const version = num(item, 'v');
      const createdAtMs = num(item, 'createdAt');
      const blob = item['racers']?.B;
      if (blob === undefined) throw new RangeError('attribute racers missing');
      const cached = peek
        ? this.cache.peek(raceId, version, createdAtMs)
        : this.cache.checkout(raceId, version, createdAtMs);
      return {
        raceId,
        classId: num(item, 'classId'),
        version,
        createdAtMs,
        lastArrivalMs,
        // Claims and seals change these without a new version: always from the item.
        publish: readSlot(item),
        racers: cached ?? decodeRacers(blob, lastArrivalMs),
      };
    } catch (error) {
      throw new CorruptBoardError(raceId, (error as Error).message);
    }
  }

  /** Write bytes of an update to the board item: DynamoDB bills the whole item, however little changes. */
  private boardBytes(raceId: number): number {
    return this.lastBoardBytes.get(raceId) ?? KB;
  }

  async loadBoard(raceId: number): Promise<RaceBoard | undefined> {
    const out = await this.send('GetItem board', () =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: boardKey(raceId), ConsistentRead: true }),
      ),
    );
    if (out === CONDITION_FAILED || out.Item === undefined) return undefined;
    const blob = out.Item['racers']?.B;
    if (blob !== undefined) this.lastBoardBytes.set(raceId, blob.length + BOARD_OVERHEAD_BYTES);
    return this.toBoard(raceId, out.Item, false);
  }

  async saveBoard(board: RaceBoard, expected: BoardExpectation): Promise<boolean> {
    const racers = encodeRacers(board.racers.values(), board.lastArrivalMs);
    const bytes = racers.length + BOARD_OVERHEAD_BYTES;
    if (bytes > MAX_BOARD_ITEM_BYTES) throw new BoardTooLargeError(board.raceId, bytes, MAX_BOARD_ITEM_BYTES);

    const sets = [
      '#v = :nv',
      'classId = :classId',
      'createdAt = :createdAt',
      'lastArrival = :lastArrival',
      'racers = :racers',
      'racerCount = :racerCount',
      '#ttl = :ttl',
    ];
    const names: Record<string, string> = { '#v': 'v', '#ttl': TTL };
    const values: Record<string, AttributeValue> = {
      ':nv': N(board.version),
      ':classId': N(board.classId),
      ':createdAt': N(board.createdAtMs),
      ':lastArrival': N(board.lastArrivalMs),
      ':racers': { B: racers },
      ':racerCount': N(board.racers.size),
      ':ttl': N(expiresAt(board.lastArrivalMs)),
    };
    let condition: string;
    if (expected.version === 0) condition = `attribute_not_exists(${PK})`;
    else {
      // The version, and the slot's claim and seal as read: a claim or seal since the read changes what
      // this writer owes the leaderboard, so it must read again (README § Leaderboards).
      condition = `#v = :v AND ${matches('pubAt', ':readPubAt', expected.claimedAtMs)} AND ${matches('sealAt', ':readSealAt', expected.sealedAtMs)}`;
      values[':v'] = N(expected.version);
      if (expected.claimedAtMs !== 0) values[':readPubAt'] = N(expected.claimedAtMs);
      if (expected.sealedAtMs !== 0) values[':readSealAt'] = N(expected.sealedAtMs);
    }
    if (expected.claim) {
      sets.push('pubAt = :pubAt', 'pubS = :pubS', 'pubE = :pubE');
      values[':pubAt'] = N(board.publish.claimedAtMs);
      values[':pubS'] = N(board.publish.second);
      values[':pubE'] = N(board.publish.expected);
    }
    if (expected.seal) {
      // The claim's round is in (or overdue) with this write: it is the seal, and this version is published.
      const p = board.publish;
      sets.push('sealAt = :sealAt', 'sentAt = :sentAt', 'pubV = :pubV', 'pubN = :pubN');
      values[':sealAt'] = N(p.sealedAtMs);
      values[':sentAt'] = N(p.sentAtMs);
      values[':pubV'] = N(p.version);
      values[':pubN'] = N(p.racers);
    }
    const out = await this.send(
      'UpdateItem board',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: boardKey(board.raceId),
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
      bytes,
    );
    if (out === CONDITION_FAILED) return false;
    this.lastBoardBytes.set(board.raceId, bytes);
    this.cache.checkin(board.raceId, board.version, board.createdAtMs, board.racers);
    return true;
  }

  async readPublish(raceId: number): Promise<PublishState | undefined> {
    const out = await this.send('GetItem slot', () =>
      this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: boardKey(raceId),
          ConsistentRead: true,
          ProjectionExpression: 'pk, pubAt, sealAt, sentAt, pubV, pubN, pubS, pubE',
        }),
      ),
    );
    const item = out === CONDITION_FAILED ? undefined : out.Item;
    return item === undefined ? undefined : readSlot(item);
  }

  async claimPublish(
    raceId: number,
    seenClaimedAtMs: number,
    nowMs: number,
    second: number,
  ): Promise<boolean> {
    const values: Record<string, AttributeValue> = { ':now': N(nowMs), ':s': N(second), ':zero': N(0) };
    if (seenClaimedAtMs !== 0) values[':seen'] = N(seenClaimedAtMs);
    const out = await this.send(
      'UpdateItem claim',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: boardKey(raceId),
            // Outside a merge write (a closed race's last board): the round waits for no racer.
            UpdateExpression: 'SET pubAt = :now, pubS = :s, pubE = :zero',
            ConditionExpression: `attribute_exists(${PK}) AND ${matches('pubAt', ':seen', seenClaimedAtMs)}`,
            ExpressionAttributeValues: values,
          }),
        ),
      this.boardBytes(raceId),
    );
    return out !== CONDITION_FAILED;
  }

  async sealPublish(
    raceId: number,
    claimedAtMs: number,
    nowMs: number,
    intervalMs: number,
  ): Promise<SealOutcome> {
    const out = await this.send(
      'UpdateItem seal',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: boardKey(raceId),
            // The item's own version and racer count, copied in the same write that ends the claim.
            UpdateExpression: 'SET sealAt = :claim, sentAt = :now, pubV = #v, pubN = racerCount',
            // Not sealed yet (the write that completed the round may have sealed it), and spaced.
            ConditionExpression:
              'pubAt = :claim AND (attribute_not_exists(sealAt) OR sealAt <> :claim) AND (attribute_not_exists(sentAt) OR sentAt <= :limit)',
            ExpressionAttributeNames: { '#v': 'v' },
            ExpressionAttributeValues: {
              ':claim': N(claimedAtMs),
              ':now': N(nowMs),
              ':limit': N(nowMs - intervalMs),
            },
            // The board as sealed (the seal changes only the slot), with the slot as it was before.
            ReturnValues: 'ALL_OLD',
          }),
        ),
      this.boardBytes(raceId),
    );
    if (out !== CONDITION_FAILED) return { board: this.toBoard(raceId, out.Attributes ?? {}, true) };
    // Why did it fail? The writer that completed the round sealed it already, or (rare) the previous
    // publish is under an interval old: one read tells.
    const slot = await this.readPublish(raceId);
    if (slot === undefined || slot.claimedAtMs !== claimedAtMs) return { lost: true };
    if (slot.sealedAtMs === claimedAtMs) return { lost: true };
    return { retryAtMs: slot.sentAtMs + intervalMs };
  }

  async releasePublish(raceId: number, claimedAtMs: number, previous: PublishState): Promise<void> {
    await this.send(
      'UpdateItem release',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: boardKey(raceId),
            UpdateExpression: 'SET pubV = :prevV, sentAt = :prevSent, pubN = :prevN',
            ConditionExpression: 'pubAt = :claim AND sealAt = :claim',
            ExpressionAttributeValues: {
              ':prevV': N(previous.version),
              ':prevSent': N(previous.sentAtMs),
              ':prevN': N(previous.racers),
              ':claim': N(claimedAtMs),
            },
          }),
        ),
      this.boardBytes(raceId),
    );
  }

  async readBests(keys: ReadonlyArray<{ racerId: number; classId: number }>): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const unique = new Map<string, Record<string, AttributeValue>>();
    for (const { racerId, classId } of keys) {
      unique.set(bestKey(racerId, classId), bestItemKey(racerId, classId));
    }
    const all = [...unique.values()];
    const chunks: Array<Array<Record<string, AttributeValue>>> = [];
    for (let i = 0; i < all.length; i += BATCH_GET_MAX_KEYS)
      chunks.push(all.slice(i, i + BATCH_GET_MAX_KEYS));
    // A race's last second brings a read per 100 racers: a few at once, not one after another.
    await forEachLimit(chunks, BATCH_GET_CONCURRENCY, async (chunk) => {
      let pending: Array<Record<string, AttributeValue>> | undefined = chunk;
      // DynamoDB may leave keys unprocessed (throttling): ask again a few times, then leave them unknown —
      // an unknown best is written (conditionally) as before, so nothing is lost by giving up.
      for (let attempt = 1; pending !== undefined && pending.length > 0; attempt++) {
        const request: Array<Record<string, AttributeValue>> = pending;
        const out = await this.send('BatchGetItem bests', () =>
          this.client.send(
            new BatchGetItemCommand({
              RequestItems: {
                [this.tableName]: { Keys: request, ProjectionExpression: 'racerId, classId, best' },
              },
            }),
          ),
        );
        if (out === CONDITION_FAILED) break;
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const best = item['best']?.N;
          if (best !== undefined)
            found.set(bestKey(num(item, 'racerId'), num(item, 'classId')), Number(best));
        }
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys;
        if (attempt >= MAX_BATCH_GET_ATTEMPTS) break;
        if (pending !== undefined && pending.length > 0) await sleep(20 * 2 ** attempt);
      }
    });
    return found;
  }

  async updateBest(
    racerId: number,
    classId: number,
    total: number,
    raceId: number,
    nowMs: number,
  ): Promise<boolean> {
    const out = await this.send(
      'UpdateItem best',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: bestItemKey(racerId, classId),
            UpdateExpression: 'SET best = :t, raceId = :r, racerId = :racer, classId = :c, updatedAt = :now',
            ConditionExpression: 'attribute_not_exists(best) OR best < :t',
            ExpressionAttributeValues: {
              ':t': N(total),
              ':r': N(raceId),
              ':racer': N(racerId),
              ':c': N(classId),
              ':now': N(nowMs),
            },
          }),
        ),
      KB,
    );
    return out !== CONDITION_FAILED;
  }

  async markOpen(race: OpenRace): Promise<void> {
    await this.send(
      'PutItem open',
      () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              [PK]: S(KEY.openPartition),
              [SK]: S(`${KEY.racePrefix}${race.raceId}`),
              raceId: N(race.raceId),
              classId: N(race.classId),
              openedAt: N(race.openedAtMs),
              // Safety net: an index entry outlives its board by at most this.
              [TTL]: N(expiresAt(race.openedAtMs)),
            },
          }),
        ),
      KB,
    );
  }

  async markClosed(raceId: number): Promise<void> {
    this.lastBoardBytes.delete(raceId);
    await this.send(
      'DeleteItem open',
      () =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: { [PK]: S(KEY.openPartition), [SK]: S(`${KEY.racePrefix}${raceId}`) },
          }),
        ),
      KB,
    );
  }

  async listOpen(): Promise<OpenRace[]> {
    const races: OpenRace[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send('Query open', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: `${PK} = :pk`,
            ExpressionAttributeValues: { ':pk': S(KEY.openPartition) },
            ExclusiveStartKey: start,
          }),
        ),
      );
      if (out === CONDITION_FAILED) break;
      for (const item of out.Items ?? []) {
        races.push({
          raceId: num(item, 'raceId'),
          classId: num(item, 'classId'),
          openedAtMs: num(item, 'openedAt'),
        });
      }
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return races;
  }
}
