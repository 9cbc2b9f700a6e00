/**
 * The race state in DynamoDB (one table, `pk`/`sk`, TTL on `expiresAt`; README § Item design):
 * - live    `RACES` / `LIVE`                          the boards of live races, one map attribute `r{raceId}` each
 * - board   `RACE#{raceId}` / `BOARD`                 a race moved out of the live item (the same map attribute)
 * - best    `RACER#{racerId}` / `BEST#CLASS#{classId}` a racer's all-time best total in a class
 * - open    `OPEN_RACES` / `RACE#{raceId}`            races not yet closed, for the timeout sweep
 *
 * An invocation's races share the live item, so their reads are one `GetItem` and their merges one
 * `UpdateItem` (conditions per race), gathered by `TurnBatcher`: writes scale with invocations, not races.
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
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { isRaceClosed, type PublishState, type RaceBoard } from './board.js';
import { BoardCache } from './board-cache.js';
import { decodeRacers, encodeRacers } from './board-codec.js';
import { isRetryable } from './classify.js';
import { forEachLimit, sleep } from './concurrency.js';
import {
  BATCH_GET_CONCURRENCY,
  BATCH_GET_MAX_KEYS,
  KEY,
  LIVE_ENTRIES_PER_WRITE,
  LIVE_ITEM_MAX_BYTES,
  LIVE_ITEM_SOFT_BYTES,
  LIVE_MOVE_AFTER_MS,
  MAX_BATCH_GET_ATTEMPTS,
  MAX_BOARD_ITEM_BYTES,
  MAX_LIVE_WRITE_ATTEMPTS,
  MOVED_MARKER_LIFETIME_MS,
  NEW_RACES_OWN_FOR_MS,
  RACE_STATE_TTL_SECONDS,
} from './constants.js';
import { BoardTooLargeError, CorruptBoardError, DependencyError } from './errors.js';
import {
  type BoardExpectation,
  bestKey,
  type CompactResult,
  type OpenRace,
  requestsOf,
  type SealOutcome,
  type StateStore,
  type WriteStats,
} from './state-store.js';
import { TurnBatcher } from './turn-batcher.js';

const PK = STATE_TABLE.partitionKey;
const SK = STATE_TABLE.sortKey;
const TTL = STATE_TABLE.ttlAttribute;
const KB = 1024;
/** Bytes of a race entry besides the racers blob: field names and values (generous). */
const ENTRY_OVERHEAD_BYTES = 200;
/** Bytes of a moved race's marker in the live item. */
const MARKER_BYTES = 30;

/** Returned instead of throwing when a condition did not hold: losing a race is not an error. */
const CONDITION_FAILED = Symbol('condition failed');
/**
 * A condition that failed after the SDK sent the request more than once (a lost response, a timeout): the
 * first attempt may have written, and then it is this writer's own write that the retry's condition met.
 */
const CONDITION_FAILED_AFTER_RETRY = Symbol('condition failed after a retry');
type Lost = typeof CONDITION_FAILED | typeof CONDITION_FAILED_AFTER_RETRY;
const lost = (out: unknown): out is Lost => out === CONDITION_FAILED || out === CONDITION_FAILED_AFTER_RETRY;

/** True when `entry` is exactly `written` (every field; the racers blob byte for byte). */
function sameEntry(entry: Item | undefined, written: Item): boolean {
  if (entry === undefined || Object.keys(entry).length !== Object.keys(written).length) return false;
  return Object.entries(written).every(([field, value]) => {
    const stored = entry[field];
    if (value.B !== undefined) return stored?.B !== undefined && Buffer.compare(stored.B, value.B) === 0;
    return stored?.N === value.N;
  });
}

type Item = Record<string, AttributeValue>;

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });

function num(item: Item, name: string, fallback?: number): number {
  const v = item[name]?.N;
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new RangeError(`attribute ${name} missing`);
  }
  return Number(v);
}

/** Where a race's entry lives: the shared live item, or its own item once moved out. */
type Home = 'live' | 'own';
const LIVE = 'live';
const LIVE_KEY: Item = { [PK]: S(KEY.livePartition), [SK]: S(KEY.liveSort) };

function ownKey(raceId: number): Item {
  return { [PK]: S(`${KEY.racePrefix}${raceId}`), [SK]: S(KEY.boardSort) };
}

/** The item a batch key names: `live`, or a race's own item `own:{raceId}`. */
function itemKey(batchKey: string): Item {
  return batchKey === LIVE ? LIVE_KEY : ownKey(Number(batchKey.slice(4)));
}

const batchKeyOf = (raceId: number, home: Home | undefined): string =>
  home === 'own' ? `own:${raceId}` : LIVE;

function bestItemKey(racerId: number, classId: number): Item {
  return { [PK]: S(`${KEY.racerPrefix}${racerId}`), [SK]: S(`${KEY.bestPrefix}${classId}`) };
}

/** The attribute holding a race's entry, in the live item and in its own item alike. */
const entryName = (raceId: number): string => `r${raceId}`;

/** A race's entry in an item: its board (`v` set), a moved race's marker (`movedAt`), or undefined. */
function entryOf(item: Item | undefined, raceId: number): Item | undefined {
  return item?.[entryName(raceId)]?.M;
}

const isBoardEntry = (entry: Item | undefined): entry is Item => entry?.['v'] !== undefined;

function readSlot(entry: Item): PublishState {
  return {
    claimedAtMs: num(entry, 'pubAt', 0),
    sealedAtMs: num(entry, 'sealAt', 0),
    sentAtMs: num(entry, 'sentAt', 0),
    version: num(entry, 'pubV', 0),
    racers: num(entry, 'pubN', 0),
    second: num(entry, 'pubS', 0),
    expected: num(entry, 'pubE', 0),
  };
}

/**
 * A whole entry: every field present (zeros included), and `w`, the count of writes to it — merges and
 * slot changes alike — on which the next write is conditioned.
 */
function entryValue(board: RaceBoard, racers: Uint8Array, writes: number): AttributeValue {
  const p = board.publish;
  return {
    M: {
      v: N(board.version),
      w: N(writes),
      classId: N(board.classId),
      createdAt: N(board.createdAtMs),
      lastArrival: N(board.lastArrivalMs),
      racers: { B: racers },
      racerCount: N(board.racers.size),
      pubAt: N(p.claimedAtMs),
      pubS: N(p.second),
      pubE: N(p.expected),
      sealAt: N(p.sealedAtMs),
      sentAt: N(p.sentAtMs),
      pubV: N(p.version),
      pubN: N(p.racers),
    },
  };
}

function entryBytes(entry: Item | undefined): number {
  if (entry === undefined) return 0;
  const blob = entry['racers']?.B;
  return blob === undefined ? MARKER_BYTES : blob.length + ENTRY_OVERHEAD_BYTES;
}

function expiresAt(lastArrivalMs: number): number {
  return Math.floor(lastArrivalMs / 1000) + RACE_STATE_TTL_SECONDS;
}

/**
 * One race's part of a write to an item: its entry becomes `value` if the entry's write count is still
 * `readWrites` — or, with `readWrites` undefined, if there is no entry yet.
 */
interface EntryWrite {
  raceId: number;
  value: Item;
  readWrites: string | undefined;
  /** The entry's size after the write. */
  bytes: number;
  ttl: number;
}

/**
 * The write's condition judged against the entry as it is now (after a write of several races lost: who?).
 * `creates`: whether the item takes new races now (the live item refuses them while `ownUntil` is ahead).
 */
function holds(write: EntryWrite, entry: Item | undefined, creates: boolean): boolean {
  return write.readWrites === undefined
    ? creates && entry === undefined
    : entry?.['w']?.N === write.readWrites;
}

/** The live item's attribute: until then (ms), new races start in their own items (`NEW_RACES_OWN_FOR_MS`). */
const OWN_UNTIL = 'ownUntil';

/**
 * A merge write of a board: the whole entry (with the claim or seal the processor put in `publish`), if
 * nothing has written the entry since it was read — the version and the slot as read are then exactly
 * what is stored, so the writer knows which claim its version is covered by (README § Leaderboards).
 */
function mergeWrite(board: RaceBoard, expected: BoardExpectation, racers: Uint8Array): EntryWrite {
  const read = expected.version === 0 ? undefined : board.storeRevision;
  if (expected.version !== 0 && read === undefined) {
    throw new Error(`race ${board.raceId}: a board written without being read from this store`);
  }
  return {
    raceId: board.raceId,
    value: entryValue(board, racers, (read ?? 0) + 1).M!,
    readWrites: read === undefined ? undefined : String(read),
    bytes: racers.length + ENTRY_OVERHEAD_BYTES,
    ttl: expiresAt(board.lastArrivalMs),
  };
}

/** A moved race's marker: in place of the entry `copied`, if nothing wrote it since. */
function markerWrite(raceId: number, nowMs: number, copied: Item): EntryWrite {
  return {
    raceId,
    value: { movedAt: N(nowMs) },
    readWrites: copied['w']?.N,
    bytes: MARKER_BYTES,
    ttl: Math.floor(nowMs / 1000) + RACE_STATE_TTL_SECONDS,
  };
}

/** A slot operation on one race's entry (`#e`), where the race lives. */
interface EntryUpdate {
  update: string;
  condition: string;
  values: Record<string, AttributeValue>;
  returnOld?: boolean;
}

export class DynamoStateStore implements StateStore {
  readonly stats: WriteStats = { writes: 0, writeUnits: 0, conditionalFailures: 0 };
  private readonly cache = new BoardCache();
  /** Where each race read here lives (moves are one-way: a race once in its own item stays there). */
  private readonly homes = new Map<number, Home>();
  /** Size of the live item as last read (what a write to it bills), and of each live entry in it. */
  private liveBytes = 0;
  private readonly liveEntryBytes = new Map<number, number>();
  /** The live item's race entries as last read (what a race that must leave it is moved as). */
  private readonly liveEntries = new Map<number, Item>();
  /** Size of each own item last read or written. */
  private readonly ownBytes = new Map<number, number>();
  /** The live item's `ownUntil` as last read or written here (it only ever rises). */
  private ownUntilMs = 0;
  /** A raise of `ownUntil` in flight: the new races of a turn share it. */
  private raising: Promise<void> | undefined;
  /**
   * The live item as read after a write of it lost: the losers read and merge again at once (after one
   * shared backoff), and the next read is served from it rather than read again. It is at most a backoff
   * old; a write based on something newer than it would only lose its condition again.
   */
  private liveAfterLoss: { item: Item | undefined } | undefined;
  private readonly reads = new TurnBatcher<undefined, Item | undefined>(async (key, asks) => {
    const prefetched = key === LIVE ? this.liveAfterLoss : undefined;
    if (prefetched !== undefined) this.liveAfterLoss = undefined;
    const item = prefetched !== undefined ? prefetched.item : await this.getItem(key);
    if (prefetched !== undefined) this.noteLive(item);
    return asks.map(() => item);
  });
  private readonly writes = new TurnBatcher<EntryWrite, boolean>((key, entries) =>
    this.writeEntries(key, entries),
  );
  /**
   * Reads of the live item made after `ownUntil` is ahead (`startsOwn`): never served from an earlier read
   * (`liveAfterLoss`), which may predate a create there. The new races of a turn share one.
   */
  private readonly freshLiveReads = new TurnBatcher<undefined, Item | undefined>(async (_key, asks) => {
    const item = await this.getItem(LIVE);
    return asks.map(() => item);
  });

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    /** The live item's size limits (tests lower them). */
    private readonly liveLimits = { softBytes: LIVE_ITEM_SOFT_BYTES, maxBytes: LIVE_ITEM_MAX_BYTES },
    /** Wall clock, for `ownUntil` (tests move it). */
    private readonly clock: () => number = Date.now,
  ) {}

  /** Runs one request, counting writes and turning failures into `DependencyError`s (retryable or not). */
  private async send<T>(operation: string, run: () => Promise<T>, writeBytes?: number): Promise<T | Lost> {
    if (writeBytes !== undefined) {
      this.stats.writes++;
      this.stats.writeUnits += Math.max(1, Math.ceil(writeBytes / KB));
    }
    try {
      return await run();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        this.stats.conditionalFailures++;
        return (error.$metadata.attempts ?? 1) > 1 ? CONDITION_FAILED_AFTER_RETRY : CONDITION_FAILED;
      }
      throw new DependencyError(`DynamoDB ${operation}`, error, isRetryable(error));
    }
  }

  /** Strongly consistent read of a whole item (the live item, or a race's own), noting its size. */
  private async getItem(key: string): Promise<Item | undefined> {
    const out = await this.send(`GetItem ${key}`, () =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: itemKey(key), ConsistentRead: true }),
      ),
    );
    const item = lost(out) ? undefined : out.Item;
    if (key === LIVE) this.noteLive(item);
    return item;
  }

  private noteLive(item: Item | undefined): void {
    this.ownUntilMs = Math.max(this.ownUntilMs, Number(item?.[OWN_UNTIL]?.N ?? 0));
    this.liveBytes = 0;
    this.liveEntryBytes.clear();
    this.liveEntries.clear();
    for (const [name, value] of Object.entries(item ?? {})) {
      if (value.M === undefined) continue;
      const raceId = Number(name.slice(1));
      const bytes = entryBytes(value.M);
      this.liveBytes += bytes;
      this.liveEntryBytes.set(raceId, bytes);
      if (isBoardEntry(value.M)) this.liveEntries.set(raceId, value.M);
    }
  }

  /**
   * Sends a batch of entry writes to one item, `LIVE_ENTRIES_PER_WRITE` a request. A request fails as a
   * whole when any of its conditions does not hold: the item read again tells which entries lost (they get
   * false, and read and merge again), and the others are sent again.
   */
  private async writeEntries(key: string, entries: EntryWrite[]): Promise<boolean[]> {
    const results = entries.map(() => false);
    const chunks = requestsOf(entries, (entry) => entry.raceId);
    await forEachLimit(chunks, chunks.length, async (chunk) => {
      let pending = chunk;
      for (let attempt = 1; pending.length > 0; attempt++) {
        const requests = pending.map((i) => entries[i]!);
        const sent = await this.sendEntries(key, requests);
        if (sent === true) {
          for (const i of pending) results[i] = true;
          return;
        }
        if (sent === false && (pending.length === 1 || attempt >= MAX_LIVE_WRITE_ATTEMPTS)) return;
        const item = await this.getItem(key);
        // A request is all or nothing: if its first attempt wrote, every entry is exactly as it wrote it.
        if (
          sent === 'unsure' &&
          requests.every((entry) => sameEntry(entryOf(item, entry.raceId), entry.value))
        ) {
          this.noteWritten(key, requests);
          for (const i of pending) results[i] = true;
          return;
        }
        const creates = key !== LIVE || this.ownUntilMs < this.clock();
        const holding = pending.filter((i) => holds(entries[i]!, entryOf(item, entries[i]!.raceId), creates));
        if (key === LIVE && item !== undefined && holding.length < pending.length)
          this.liveAfterLoss = { item };
        if (attempt >= MAX_LIVE_WRITE_ATTEMPTS) return;
        pending = holding;
      }
    });
    return results;
  }

  /** True if written; `unsure` if the condition failed after the SDK sent the request again (see `Lost`). */
  private async sendEntries(key: string, entries: EntryWrite[]): Promise<boolean | 'unsure'> {
    const sets: string[] = [];
    const conditions: string[] = [];
    const names: Record<string, string> = { '#ttl': TTL };
    const values: Record<string, AttributeValue> = {};
    let ttl = 0;
    let billed = key === LIVE ? this.liveBytes : 0;
    entries.forEach((entry, i) => {
      names[`#e${i}`] = entryName(entry.raceId);
      values[`:e${i}`] = { M: entry.value };
      sets.push(`#e${i} = :e${i}`);
      if (entry.readWrites === undefined) conditions.push(`attribute_not_exists(#e${i})`);
      else {
        conditions.push(`#e${i}.w = :w${i}`);
        values[`:w${i}`] = { N: entry.readWrites };
      }
      ttl = Math.max(ttl, entry.ttl);
      billed =
        key === LIVE ? billed - (this.liveEntryBytes.get(entry.raceId) ?? 0) + entry.bytes : entry.bytes;
    });
    // A new race joins the live item only while it takes new races (see `saveBoard`).
    if (key === LIVE && entries.some((entry) => entry.readWrites === undefined)) {
      conditions.push('(attribute_not_exists(#own) OR #own < :now)');
      names['#own'] = OWN_UNTIL;
      values[':now'] = N(this.clock());
    }
    // The live item lives while races are written to it, whatever the age of the records (a replay).
    if (key === LIVE) ttl = Math.max(ttl, Math.floor(Date.now() / 1000) + RACE_STATE_TTL_SECONDS);
    values[':ttl'] = N(ttl);
    const out = await this.send(
      entries.length === 1 && key !== LIVE ? 'UpdateItem board' : 'UpdateItem live',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: itemKey(key),
            UpdateExpression: `SET ${sets.join(', ')}, #ttl = :ttl`,
            ConditionExpression: conditions.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
      billed,
    );
    if (lost(out)) return out === CONDITION_FAILED_AFTER_RETRY ? 'unsure' : false;
    this.noteWritten(key, entries);
    return true;
  }

  private noteWritten(key: string, entries: EntryWrite[]): void {
    const prefetched = key === LIVE ? this.liveAfterLoss?.item : undefined;
    for (const entry of entries) {
      // Keep a prefetched read current with this store's own writes (the winners of a partly lost request).
      if (prefetched !== undefined) prefetched[entryName(entry.raceId)] = { M: entry.value };
      if (key === LIVE) this.noteLiveEntry(entry.raceId, entry.bytes);
      else this.ownBytes.set(entry.raceId, entry.bytes);
    }
  }

  /** The live item's size with one entry at `bytes`. */
  private liveBytesWith(raceId: number, bytes: number): number {
    return this.liveBytes - (this.liveEntryBytes.get(raceId) ?? 0) + bytes;
  }

  /** Notes one entry of the live item at `bytes`. */
  private noteLiveEntry(raceId: number, bytes: number): void {
    this.liveBytes = this.liveBytesWith(raceId, bytes);
    this.liveEntryBytes.set(raceId, bytes);
  }

  /** A race entry as a `RaceBoard`; `peek` reads the decode cache without taking the entry (publish only). */
  private toBoard(raceId: number, entry: Item, peek: boolean): RaceBoard {
    try {
      const lastArrivalMs = num(entry, 'lastArrival');
      const version = num(entry, 'v');
      const createdAtMs = num(entry, 'createdAt');
      const blob = entry['racers']?.B;
      if (blob === undefined) throw new RangeError('attribute racers missing');
      const cached = peek
        ? this.cache.peek(raceId, version, createdAtMs)
        : this.cache.checkout(raceId, version, createdAtMs);
      return {
        raceId,
        classId: num(entry, 'classId'),
        version,
        createdAtMs,
        lastArrivalMs,
        // Claims and seals change these without a new version: always from the item.
        publish: readSlot(entry),
        racers: cached ?? decodeRacers(blob, lastArrivalMs),
        storeRevision: num(entry, 'w'),
      };
    } catch (error) {
      throw new CorruptBoardError(raceId, (error as Error).message);
    }
  }

  /** The race's entry where it lives now: the live item, else its own item (moved out, or born there). */
  private async readEntry(raceId: number): Promise<Item | undefined> {
    if (this.homes.get(raceId) === 'own')
      return entryOf(await this.reads.add(batchKeyOf(raceId, 'own'), undefined), raceId);
    const live = entryOf(await this.reads.add(LIVE, undefined), raceId);
    if (isBoardEntry(live)) {
      this.homes.set(raceId, 'live');
      return live;
    }
    // Not in the live item: moved out (a marker, or one since purged), born in its own item, or new.
    const own = entryOf(await this.reads.add(batchKeyOf(raceId, 'own'), undefined), raceId);
    if (isBoardEntry(own) || live !== undefined) this.homes.set(raceId, 'own');
    else this.homes.delete(raceId);
    return own;
  }

  async loadBoard(raceId: number): Promise<RaceBoard | undefined> {
    const entry = await this.readEntry(raceId);
    return isBoardEntry(entry) ? this.toBoard(raceId, entry, false) : undefined;
  }

  async saveBoard(board: RaceBoard, expected: BoardExpectation): Promise<boolean> {
    const racers = encodeRacers(board.racers.values(), board.lastArrivalMs);
    const bytes = racers.length + ENTRY_OVERHEAD_BYTES;
    if (bytes > MAX_BOARD_ITEM_BYTES) throw new BoardTooLargeError(board.raceId, bytes, MAX_BOARD_ITEM_BYTES);
    let home = this.homes.get(board.raceId);
    if (expected.version === 0 && home !== 'own') {
      if (this.liveBytes + bytes > this.liveLimits.softBytes || this.ownUntilMs >= this.clock()) {
        // The live item is full (or takes no new race for now): the race starts in its own item.
        if (!(await this.startsOwn(board.raceId))) return false;
        home = 'own';
      } else {
        // Counted at once: the other new races of this turn (a race start brings many) see it.
        this.noteLiveEntry(board.raceId, bytes);
      }
    }
    if (
      home === 'live' &&
      expected.version !== 0 &&
      this.liveBytesWith(board.raceId, bytes) > this.liveLimits.maxBytes
    ) {
      // The live item would grow past its budget (races admitted small grow): this race moves to its own
      // item first — as compaction moves a finished race, the entry as read, then a marker — and its write
      // goes there, under the same condition.
      const read = this.liveEntries.get(board.raceId);
      if (read?.['w']?.N !== String(board.storeRevision)) return false;
      if (!(await this.moveOut(board.raceId, read, Date.now()))) return false;
      home = 'own';
    }
    if (!(await this.writes.add(batchKeyOf(board.raceId, home), mergeWrite(board, expected, racers))))
      return false;
    this.homes.set(board.raceId, home ?? 'live');
    this.cache.checkin(board.raceId, board.version, board.createdAtMs, board.racers);
    return true;
  }

  /**
   * Whether a new race may start in its own item; false if it exists in the live item after all (created
   * there by a writer whose view had room: read again, it is found there). First the live item takes no new
   * race for longer than any invocation lasts (`ownUntil`), so that a writer that read it before this race
   * existed, and finds it nowhere, cannot create it there later; then a fresh read shows whether one did
   * before. Together they do what a marker's `attribute_not_exists` did, without an entry per race.
   */
  private async startsOwn(raceId: number): Promise<boolean> {
    await this.refuseNewRaces();
    const live = await this.freshLiveReads.add(LIVE, undefined);
    return entryOf(live, raceId) === undefined;
  }

  /**
   * Makes sure the live item takes no new race for at least `MOVED_MARKER_LIFETIME_MS` from now: raises its
   * `ownUntil` to `NEW_RACES_OWN_FOR_MS` ahead when less is left, one raise at a time (one write per ten
   * minutes of new races starting in their own items, however many, per container). Never lowers it.
   */
  private refuseNewRaces(): Promise<void> {
    if (this.ownUntilMs - this.clock() >= MOVED_MARKER_LIFETIME_MS) return Promise.resolve();
    this.raising ??= this.raiseOwnUntil().finally(() => {
      this.raising = undefined;
    });
    return this.raising;
  }

  private async raiseOwnUntil(): Promise<void> {
    const until = this.clock() + NEW_RACES_OWN_FOR_MS;
    await this.send(
      'UpdateItem ownUntil',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: LIVE_KEY,
            UpdateExpression: 'SET #own = :until',
            ConditionExpression: 'attribute_not_exists(#own) OR #own < :until',
            ExpressionAttributeNames: { '#own': OWN_UNTIL },
            ExpressionAttributeValues: { ':until': N(until) },
          }),
        ),
      this.liveBytes,
    );
    // Lost, it is at `until` or later already (another writer's, or this request's first attempt): as good.
    this.ownUntilMs = Math.max(this.ownUntilMs, until);
  }

  /** An update of one race's entry where it lives (slot operations), with `#e` naming the entry. */
  private async updateEntry(
    operation: string,
    raceId: number,
    input: EntryUpdate,
  ): Promise<UpdateItemCommandOutput | Lost> {
    const home = this.homes.get(raceId);
    const out = await this.sendEntryUpdate(operation, raceId, batchKeyOf(raceId, home), input);
    if (!lost(out) || home === 'own') return out;
    // Lost in the live item: the race may have moved since it was read here. Its own item, then.
    await this.readEntry(raceId);
    if (this.homes.get(raceId) !== 'own') return out;
    return this.sendEntryUpdate(operation, raceId, batchKeyOf(raceId, 'own'), input);
  }

  private sendEntryUpdate(operation: string, raceId: number, key: string, input: EntryUpdate) {
    if (key === LIVE) this.liveAfterLoss = undefined; // a slot change it would not show
    return this.send(
      operation,
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: itemKey(key),
            UpdateExpression: input.update,
            ConditionExpression: input.condition,
            ExpressionAttributeNames: { '#e': entryName(raceId) },
            ExpressionAttributeValues: input.values,
            ReturnValues: input.returnOld ? 'ALL_OLD' : 'NONE',
          }),
        ),
      // DynamoDB bills the whole item, however little of it a slot change touches.
      key === LIVE ? this.liveBytes : (this.ownBytes.get(raceId) ?? KB),
    );
  }

  async readPublish(raceId: number): Promise<PublishState | undefined> {
    const entry = await this.readEntry(raceId);
    return isBoardEntry(entry) ? readSlot(entry) : undefined;
  }

  async claimPublish(
    raceId: number,
    seenClaimedAtMs: number,
    nowMs: number,
    second: number,
  ): Promise<boolean> {
    const out = await this.updateEntry('UpdateItem claim', raceId, {
      // Outside a merge write (a closed race's last board): the round waits for no racer.
      update: 'SET #e.pubAt = :now, #e.pubS = :s, #e.pubE = :zero, #e.w = #e.w + :one',
      condition: '#e.pubAt = :seen',
      values: { ':now': N(nowMs), ':s': N(second), ':zero': N(0), ':seen': N(seenClaimedAtMs), ':one': N(1) },
    });
    return !lost(out);
  }

  async sealPublish(
    raceId: number,
    claimedAtMs: number,
    nowMs: number,
    intervalMs: number,
  ): Promise<SealOutcome> {
    const out = await this.updateEntry('UpdateItem seal', raceId, {
      // The entry's own version and racer count, copied in the same write that ends the claim.
      update:
        'SET #e.sealAt = :claim, #e.sentAt = :now, #e.pubV = #e.v, #e.pubN = #e.racerCount, #e.w = #e.w + :one',
      // Not sealed yet (the write that completed the round may have sealed it), and spaced.
      condition: '#e.pubAt = :claim AND #e.sealAt <> :claim AND #e.sentAt <= :limit',
      values: { ':claim': N(claimedAtMs), ':now': N(nowMs), ':limit': N(nowMs - intervalMs), ':one': N(1) },
      // The board as sealed (the seal changes only the slot), with the slot as it was before.
      returnOld: true,
    });
    if (!lost(out)) {
      const entry = entryOf(out.Attributes, raceId);
      if (isBoardEntry(entry)) return { board: this.toBoard(raceId, entry, true) };
    }
    // Why did it fail? The writer that completed the round sealed it already, or (rare) the previous
    // publish is under an interval old: one read tells.
    const entry = await this.readEntry(raceId);
    const slot = isBoardEntry(entry) ? readSlot(entry) : undefined;
    if (slot === undefined || slot.claimedAtMs !== claimedAtMs) return { lost: true };
    if (slot.sealedAtMs === claimedAtMs) {
      // Sealed with this seal's own time: its first attempt wrote (the SDK sent it again), so the publish
      // is this writer's — of the board as it is now, a version at least the one sealed.
      const ours = out === CONDITION_FAILED_AFTER_RETRY && slot.sentAtMs === nowMs;
      return ours && isBoardEntry(entry) ? { board: this.toBoard(raceId, entry, true) } : { lost: true };
    }
    return { retryAtMs: slot.sentAtMs + intervalMs };
  }

  async releasePublish(raceId: number, claimedAtMs: number, previous: PublishState): Promise<void> {
    await this.updateEntry('UpdateItem release', raceId, {
      update: 'SET #e.pubV = :prevV, #e.sentAt = :prevSent, #e.pubN = :prevN, #e.w = #e.w + :one',
      condition: '#e.pubAt = :claim AND #e.sealAt = :claim',
      values: {
        ':prevV': N(previous.version),
        ':prevSent': N(previous.sentAtMs),
        ':prevN': N(previous.racers),
        ':claim': N(claimedAtMs),
        ':one': N(1),
      },
    });
  }

  /**
   * Keeps the live item small: a closed race whose latest version is published and whose last record is
   * `LIVE_MOVE_AFTER_MS` old moves to its own item — copied there first (never over a newer copy), then
   * replaced by a marker if its version and slot are still the ones copied; markers older than
   * `MOVED_MARKER_LIFETIME_MS` are removed (README § Item design).
   */
  async compact(nowMs: number): Promise<CompactResult> {
    const result: CompactResult = { moved: 0, markersRemoved: 0 };
    const item = await this.getItem(LIVE);
    const expired: Array<{ raceId: number; movedAt: AttributeValue }> = [];
    for (const [name, value] of Object.entries(item ?? {})) {
      const entry = value.M;
      if (entry === undefined) continue;
      const raceId = Number(name.slice(1));
      if (!isBoardEntry(entry)) {
        if (nowMs - num(entry, 'movedAt', nowMs) > MOVED_MARKER_LIFETIME_MS) {
          expired.push({ raceId, movedAt: entry['movedAt']! });
        }
        continue;
      }
      const slot = readSlot(entry);
      const version = num(entry, 'v');
      if (slot.claimedAtMs === 0 || slot.sealedAtMs !== slot.claimedAtMs || slot.version !== version)
        continue;
      // Quiet for a while, and its last publish long done (a failed publish puts the slot back, in place).
      if (nowMs - Math.max(num(entry, 'lastArrival'), slot.sentAtMs) < LIVE_MOVE_AFTER_MS) continue;
      if (!isRaceClosed(this.toBoard(raceId, entry, true))) continue;
      if (await this.moveOut(raceId, entry, nowMs)) result.moved++;
    }
    for (let i = 0; i < expired.length; i += LIVE_ENTRIES_PER_WRITE) {
      const chunk = expired.slice(i, i + LIVE_ENTRIES_PER_WRITE);
      const names: Record<string, string> = {};
      const values: Record<string, AttributeValue> = {};
      chunk.forEach(({ raceId, movedAt }, j) => {
        names[`#m${j}`] = entryName(raceId);
        values[`:m${j}`] = movedAt;
      });
      const out = await this.send(
        'UpdateItem markers',
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: LIVE_KEY,
              UpdateExpression: `REMOVE ${chunk.map((_, j) => `#m${j}`).join(', ')}`,
              ConditionExpression: chunk.map((_, j) => `#m${j}.movedAt = :m${j}`).join(' AND '),
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
            }),
          ),
        this.liveBytes,
      );
      if (!lost(out)) result.markersRemoved += chunk.length;
    }
    return result;
  }

  /** Copies a live entry to the race's own item, then puts a marker in its place if it is unchanged. */
  private async moveOut(raceId: number, entry: Item, nowMs: number): Promise<boolean> {
    const bytes = entryBytes(entry);
    const copied = await this.send(
      'UpdateItem move',
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: ownKey(raceId),
            UpdateExpression: 'SET #e = :entry, #ttl = :ttl',
            // Never over a copy as new or newer (a writer there already, after an earlier move's marker; a
            // slow mover of the same entry): the copy keeps the entry's write count.
            ConditionExpression: 'attribute_not_exists(#e) OR #e.w < :w',
            ExpressionAttributeNames: { '#e': entryName(raceId), '#ttl': TTL },
            ExpressionAttributeValues: {
              ':entry': { M: entry },
              ':w': entry['w']!,
              ':ttl': N(expiresAt(num(entry, 'lastArrival'))),
            },
          }),
        ),
      bytes,
    );
    if (lost(copied)) return false;
    if (!(await this.writes.add(LIVE, markerWrite(raceId, nowMs, entry)))) return false;
    this.homes.set(raceId, 'own');
    this.ownBytes.set(raceId, bytes);
    return true;
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
        if (lost(out)) break;
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
    return !lost(out);
  }

  /**
   * The index entries of a turn's new races are written together and answered together, so the boards
   * created after them still go to the live item as one write.
   */
  private readonly opens = new TurnBatcher<OpenRace, undefined>(async (_key, races) => {
    await Promise.all(races.map((race) => this.putOpen(race)));
    return races.map(() => undefined);
  });

  async markOpen(race: OpenRace): Promise<void> {
    await this.opens.add('open', race);
  }

  private async putOpen(race: OpenRace): Promise<void> {
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
    this.ownBytes.delete(raceId);
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
      if (lost(out)) break;
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
