/**
 * The race state in DynamoDB (one table, `pk`/`sk`, TTL on `expiresAt`; README § Item design):
 * - board   `RACE#{raceId}` / `BOARD`                 every racer's score and counted seconds (binary)
 * - best    `RACER#{racerId}` / `BEST#CLASS#{classId}` a racer's all-time best total in a class
 * - open    `OPEN_RACES` / `RACE#{raceId}`            races not yet closed, for the timeout sweep
 */

import { STATE_TABLE } from '@alleycat/schema';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { RaceBoard } from './board.js';
import { BoardCache } from './board-cache.js';
import { decodeRacers, encodeRacers } from './board-codec.js';
import { isRetryable } from './classify.js';
import { KEY, MAX_BOARD_ITEM_BYTES, RACE_STATE_TTL_SECONDS } from './constants.js';
import { BoardTooLargeError, CorruptBoardError, DependencyError } from './errors.js';
import type { BoardExpectation, OpenRace, StateStore, WriteStats } from './state-store.js';

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

function boardKey(raceId: number): Record<string, AttributeValue> {
  return { [PK]: S(`${KEY.racePrefix}${raceId}`), [SK]: S(KEY.boardSort) };
}

function expiresAt(lastArrivalMs: number): number {
  return Math.floor(lastArrivalMs / 1000) + RACE_STATE_TTL_SECONDS;
}

export class DynamoStateStore implements StateStore {
  readonly stats: WriteStats = { writes: 0, writeUnits: 0, conditionalFailures: 0 };
  private readonly cache = new BoardCache();

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

  async loadBoard(raceId: number): Promise<RaceBoard | undefined> {
    const out = await this.send('GetItem board', () =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: boardKey(raceId), ConsistentRead: true }),
      ),
    );
    if (out === CONDITION_FAILED || out.Item === undefined) return undefined;
    const item = out.Item;
    try {
      const lastArrivalMs = num(item, 'lastArrival');
      const version = num(item, 'v');
      const createdAtMs = num(item, 'createdAt');
      const blob = item['racers']?.B;
      if (blob === undefined) throw new RangeError('attribute racers missing');
      return {
        raceId,
        classId: num(item, 'classId'),
        version,
        createdAtMs,
        lastArrivalMs,
        // Claims change these without a new version: always from the item.
        publishedAtMs: num(item, 'pubAt', 0),
        publishedVersion: num(item, 'pubV', 0),
        racers: this.cache.checkout(raceId, version, createdAtMs) ?? decodeRacers(blob, lastArrivalMs),
      };
    } catch (error) {
      throw new CorruptBoardError(raceId, (error as Error).message);
    }
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
      condition = '#v = :v';
      values[':v'] = N(expected.version);
    }
    if (expected.claim) {
      sets.push('pubAt = :pubAt', 'pubV = :pubV');
      values[':pubAt'] = N(board.publishedAtMs);
      values[':pubV'] = N(board.publishedVersion);
      if (expected.version !== 0) {
        // Another invocation may have claimed the slot since the read (claims do not bump `v`).
        // A board never published has no `pubAt` yet (read as 0).
        condition +=
          expected.publishedAtMs === 0
            ? ' AND (attribute_not_exists(pubAt) OR pubAt = :readPubAt)'
            : ' AND pubAt = :readPubAt';
        values[':readPubAt'] = N(expected.publishedAtMs);
      }
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
    this.cache.checkin(board.raceId, board.version, board.createdAtMs, board.racers);
    return true;
  }

  async claimPublish(raceId: number, version: number, nowMs: number, intervalMs: number): Promise<boolean> {
    const out = await this.send(
      'UpdateItem claim',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: boardKey(raceId),
            UpdateExpression: 'SET pubAt = :now, pubV = :ver',
            ConditionExpression: `attribute_exists(${PK}) AND (attribute_not_exists(pubV) OR (pubV < :ver AND pubAt <= :limit))`,
            ExpressionAttributeValues: {
              ':now': N(nowMs),
              ':ver': N(version),
              ':limit': N(nowMs - intervalMs),
            },
          }),
        ),
      KB,
    );
    return out !== CONDITION_FAILED;
  }

  async releasePublish(
    raceId: number,
    claimed: { atMs: number; version: number },
    previous: { atMs: number; version: number },
  ): Promise<void> {
    await this.send(
      'UpdateItem release',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: boardKey(raceId),
            UpdateExpression: 'SET pubAt = :prevAt, pubV = :prevV',
            ConditionExpression: 'pubAt = :at AND pubV = :ver',
            ExpressionAttributeValues: {
              ':prevAt': N(previous.atMs),
              ':prevV': N(previous.version),
              ':at': N(claimed.atMs),
              ':ver': N(claimed.version),
            },
          }),
        ),
      KB,
    );
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
            Key: { [PK]: S(`${KEY.racerPrefix}${racerId}`), [SK]: S(`${KEY.bestPrefix}${classId}`) },
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
