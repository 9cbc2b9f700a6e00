/** Names and tuning of the ingest Lambda. Limits of AWS and of the wire format live in `@alleycat/schema`. */

/** Powertools service name and EMF namespace. */
export const SERVICE_NAME = 'alleycat-ingest';
export const METRICS_NAMESPACE = 'Alleycat';

/** EMF metric names (one place, so dashboards and alarms can rely on them). */
export const METRIC = {
  records: 'Records',
  /** Race messages decoded from valid records (a batch or an aggregate holds several). */
  messages: 'Messages',
  invalidRecords: 'InvalidRecords',
  secondsCounted: 'SecondsCounted',
  duplicates: 'DuplicateSeconds',
  racersUpdated: 'RacersUpdated',
  racesUpdated: 'RacesUpdated',
  /** DynamoDB write requests, lost conditions included (what DynamoDB bills). */
  stateWrites: 'StateWrites',
  /** Of them, requests whose condition failed (another writer came first). */
  stateWritesLost: 'StateWritesLost',
  /** Of them, raises of closing racers' bests (a race's last second brings one per racer). */
  bestWrites: 'BestWrites',
  /** Races read and merged again after their write lost (several per lost write of the live item). */
  stateConflicts: 'StateConflicts',
  bestsUpdated: 'BestsUpdated',
  leaderboardsPublished: 'LeaderboardsPublished',
  racesClosedByTimeout: 'RacesClosedByTimeout',
  batchItemFailures: 'BatchItemFailures',
  /** Scheduled sweeps run, and races (or the listing) a sweep could not settle. */
  sweeps: 'SweepRuns',
  sweepFailures: 'SweepFailures',
  /** Invocations that threw (the whole batch is retried by Lambda). */
  invocationErrors: 'InvocationErrors',
  /** Invocations that ran out of time and handed their whole batch back. */
  outOfTime: 'InvocationsOutOfTime',
  /** Now minus the oldest record's `approximateArrivalTimestamp`: how far behind the stream this shard is. */
  iteratorAge: 'IteratorAgeMs',
  /** Now minus the newest record's arrival: the lag a leaderboard published now carries. */
  arrivalLag: 'ArrivalLagMs',
} as const;

/** A race's leaderboard goes out at most this often (DESIGN § Data flow): once per second of the race. */
export const PUBLISH_INTERVAL_MS = 1_000;
/**
 * A claim for a newer second of the race may come this soon after the previous claim, so that one late
 * round (a slow invocation, a poll that came late) does not push every later publish back with it; a
 * claim with no newer second (late records, a `final`) still waits the whole interval. So a race
 * publishes once per second of the race, never twice within this gap (README § Leaderboards).
 */
export const PUBLISH_MIN_GAP_MS = 750;

/**
 * How late a few racers of a round may be: once a round's claim is this old, the next write to the race seals
 * and publishes it without them (many missing are waited for longer: `LATE_SHARE`; README § Leaderboards).
 * Set by `ALLEYCAT_PUBLISH_SETTLE_MS` (default and bound from the schema's contract, which the infra validates
 * its setting against).
 */
export { DEFAULT_PUBLISH_SETTLE_MS, MAX_PUBLISH_SETTLE_MS } from '@alleycat/schema';
/**
 * A round missing more than this share of the racers it awaits is waiting for a shard, not for bikes that
 * dropped a message: it waits up to `LATE_SHARD_WAIT_MS` instead of the settle delay (`roundOverdue`).
 */
export const LATE_SHARE = 0.05;
/** How long a round waits for a shard's racers at most: inside the one-second round, as the settle delay. */
export const LATE_SHARD_WAIT_MS = 900;
/** Seal attempts of one claim (a seal is retried only while the previous publish is under an interval old). */
export const MAX_SEAL_ATTEMPTS = 3;

/** Default when `ALLEYCAT_RACE_TIMEOUT_SECONDS` is not set: a racer or race silent this long is closed. */
export const DEFAULT_RACE_TIMEOUT_SECONDS = 120;

/**
 * Optimistic-concurrency attempts per race per invocation. Every shard writes every race its riders are in,
 * so under load a shard whose event loop is slower than the others' can lose several times running; handed
 * back, its records come again with the rest of the batch after them, which adds to the load that made it
 * lose. So it keeps trying (the invocation's deadline still hands the batch back in time), and only a
 * conflict this persistent goes back to Lambda.
 */
export const MAX_STATE_ATTEMPTS = 20;
/** Backoff base for a state conflict (full jitter, doubled per attempt up to `STATE_CONFLICT_BACKOFF_MAX_MS`). */
export const STATE_CONFLICT_BACKOFF_MS = 15;
export const STATE_CONFLICT_BACKOFF_MAX_MS = 240;

/**
 * Largest board item written. DynamoDB's item limit is 400 KB (names and values); the margin keeps the
 * scalar attributes and a growing race clear of it. See README § Item design for what fits.
 */
export const MAX_BOARD_ITEM_BYTES = 380 * 1024;

/**
 * The live item takes new races while it is smaller than this; past it a new race starts in its own item.
 * Every write bills the whole item, and DynamoDB gives one partition 1,000 write units a second: at the
 * seed's ~10 live-item writes a second that allows ~100 KB (README § Item design).
 */
export const LIVE_ITEM_SOFT_BYTES = 48 * 1024;
/**
 * The live item's budget: a write that would take it past this moves its race to the race's own item
 * first (races admitted small grow). The seed's 6 races of ~170 racers end 300 s races at ~45 KB.
 */
export const LIVE_ITEM_MAX_BYTES = 96 * 1024;
/** Races in one write of the live item: keeps the update and condition expressions inside 4 KB each. */
export const LIVE_ENTRIES_PER_WRITE = 100;
/** A write of several races that lost on one of them is sent again without the losers, this many times. */
export const MAX_LIVE_WRITE_ATTEMPTS = 4;
/** A closed, published race leaves the live item once its last record is this old. */
export const LIVE_MOVE_AFTER_MS = 60_000;
/**
 * A moved race's marker stays in the live item this long. Longer than an invocation can hold a read of
 * the item (Lambda's 15 minutes), so no writer can re-create a moved race in it (README § Item design).
 */
export const MOVED_MARKER_LIFETIME_MS = 20 * 60_000;
/**
 * While the live item is full, new races start in their own items, and the live item takes no new race until
 * `ownUntil` (one attribute, in place of a marker per such race: markers of a flood of new races would grow the
 * live item towards DynamoDB's 400 KB item limit). Set this far ahead, and raised again once less than
 * `MOVED_MARKER_LIFETIME_MS` is left, so it always outlasts any invocation that read the live item before a
 * race started in its own item (README § Item design).
 */
export const NEW_RACES_OWN_FOR_MS = MOVED_MARKER_LIFETIME_MS + 10 * 60_000;

/** Items of a race expire this long after its last record (TTL on `expiresAt`); bests never expire. */
export const RACE_STATE_TTL_SECONDS = 7 * 24 * 3600;

/** A container sweeps the open-race index for timed-out races at most this often. */
export const SWEEP_INTERVAL_MS = 10_000;

/**
 * Races loaded, merged and written at once within one invocation. High enough for every race of a batch:
 * their reads and writes of the live item then go as one request each (README § Item design).
 */
export const RACE_CONCURRENCY = 64;
/** Invalid-record reports written at once. */
export const SINK_CONCURRENCY = 16;
/**
 * Best-score updates sent at once. A race's last second closes every racer: 1,000 conditional writes hold
 * the shard's next batch until they are done (~60 rounds at 16, ~21 at 48 — inside the DynamoDB client's
 * 50 sockets, `clients.ts`).
 */
export const BEST_CONCURRENCY = 48;

/** Names are sent with the standings when racers join, and every this many seconds of race time. */
export const NAMES_EVERY_SECONDS = 10;

/** Keys of the state table (one table, generic `pk`/`sk`; README § Item design). */
export const KEY = {
  livePartition: 'RACES',
  liveSort: 'LIVE',
  racePrefix: 'RACE#',
  boardSort: 'BOARD',
  openPartition: 'OPEN_RACES',
  racerPrefix: 'RACER#',
  bestPrefix: 'BEST#CLASS#',
} as const;

/** Keys one BatchGetItem may ask for (DynamoDB's limit). */
export const BATCH_GET_MAX_KEYS = 100;
/** BatchGetItem requests in flight at once (each up to 100 keys). */
export const BATCH_GET_CONCURRENCY = 4;
/** BatchGetItem calls for one chunk of keys, unprocessed ones asked again (then left unknown). */
export const MAX_BATCH_GET_ATTEMPTS = 3;
