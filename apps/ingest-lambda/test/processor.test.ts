/**
 * The orchestration against in-memory edges with the same conditions as DynamoDB: the batch-response
 * contract, failures and retries without double counting, publish slot, timeouts and bests.
 */

import { aggregate } from '@alleycat/kinesis-agg';
import { invalidRecordKey, output, toBatch } from '@alleycat/schema';
import type { KinesisStreamRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { decodeRacers, encodeRacers } from '../src/board-codec.js';
import { DEFAULT_PUBLISH_SETTLE_MS, PUBLISH_MIN_GAP_MS } from '../src/constants.js';
import { BoardTooLargeError } from '../src/errors.js';
import { MemoryInvalidRecordSink } from '../src/invalid-sink.js';
import { IngestProcessor, publishDutyOf } from '../src/processor.js';
import { event, json, kinesisRecord, messageRecord, raceMessage } from './helpers/events.js';
import {
  accessDeniedError,
  FaultyPublisher,
  FaultyStore,
  RecordingLogger,
  RecordingMetrics,
  throttlingError,
} from './helpers/fakes.js';

const T0 = 1_764_250_000_000;

function setup(options: { timeoutSeconds?: number; sink?: MemoryInvalidRecordSink } = {}) {
  const clock = { now: T0 + 1_000 };
  const store = new FaultyStore();
  const publisher = new FaultyPublisher();
  const sink = options.sink ?? new MemoryInvalidRecordSink();
  const logger = new RecordingLogger();
  const metrics = new RecordingMetrics();
  const processor = new IngestProcessor({
    store,
    publisher,
    sink,
    logger,
    metrics,
    resultsTopicPrefix: 'alleycat-subscribe',
    raceTimeoutSeconds: options.timeoutSeconds ?? 60,
    clock: () => clock.now,
    wait: async (ms) => {
      clock.now += ms;
    },
  });
  return { clock, store, publisher, sink, logger, metrics, processor };
}

function expectedTotal(raceId: number, racerId: number, seconds: Iterable<number>): number {
  let total = 0;
  for (const s of new Set(seconds)) {
    const m = raceMessage(raceId, racerId, s);
    total += output(m.cadence, m.resistance);
  }
  return total;
}

async function totalsOf(store: FaultyStore, raceId: number): Promise<Map<number, number>> {
  const board = await store.loadBoard(raceId);
  return new Map([...(board?.racers.values() ?? [])].map((r) => [r.racerId, r.total]));
}

describe('IngestProcessor: batch response contract', () => {
  it('a record without approximateArrivalTimestamp is taken as arriving now', async () => {
    const { processor, store, clock } = setup();
    const record = messageRecord(raceMessage(1, 1, 0));
    delete (record.kinesis as { approximateArrivalTimestamp?: number }).approximateArrivalTimestamp;
    const invokedAt = clock.now; // the fake clock moves on while the leaderboard settles
    expect(await processor.process(event([record]))).toEqual({ batchItemFailures: [] });
    const board = await store.loadBoard(1);
    expect(board!.lastArrivalMs).toBe(invokedAt);
    expect(board!.racers.get(1)!.count).toBe(1);
  });

  it('an empty event succeeds', async () => {
    const { processor } = setup();
    expect(await processor.process(event([]))).toEqual({ batchItemFailures: [] });
  });

  it('invalid records are stored, counted and logged with their sequence numbers — never failures', async () => {
    const { processor, sink, metrics, logger, store } = setup();
    const [aggregated] = aggregate([
      { partitionKey: '5', data: json(raceMessage(1, 5, 0)) },
      { partitionKey: '5', data: Buffer.from('garbage') },
    ]);
    const records: KinesisStreamRecord[] = [
      messageRecord(raceMessage(1, 1, 0)),
      kinesisRecord(Buffer.from('Hello, this is a test.')),
      kinesisRecord('%%% not base64 %%%'),
      kinesisRecord(json({ ...raceMessage(1, 2, 0), clientId: 'racer-3' })),
      kinesisRecord(aggregated!.data),
      messageRecord(raceMessage(1, 2, 0)),
    ];
    const response = await processor.process(event(records));
    expect(response).toEqual({ batchItemFailures: [] });

    expect(sink.reports.size).toBe(4);
    const reports = [...sink.reports.values()];
    expect(reports.map((r) => r.reason.code).sort()).toEqual([
      'identity_mismatch',
      'not_base64',
      'not_json',
      'not_json',
    ]);
    for (const [key, report] of sink.reports) {
      expect(key).toBe(invalidRecordKey(report));
      expect(key.startsWith('invalid/')).toBe(true);
      expect(report.shardId).toBe('shardId-000000000006');
      expect(records.some((r) => r.kinesis.sequenceNumber === report.sequenceNumber)).toBe(true);
    }
    const sub = reports.find((r) => r.subSequenceNumber !== undefined)!;
    expect(sub.sequenceNumber).toBe(records[4]!.kinesis.sequenceNumber);
    expect(sub.subSequenceNumber).toBe(1);
    expect(Buffer.from(sub.dataBase64, 'base64').toString()).toBe('garbage');
    const notBase64 = reports.find((r) => r.reason.code === 'not_base64')!;
    expect(notBase64.dataBase64).toBe('%%% not base64 %%%');

    expect(metrics.get('InvalidRecords')).toBe(4);
    expect(metrics.get('Records')).toBe(6);
    const warnings = logger.entries.filter((e) => e.message === 'invalid record');
    expect(warnings).toHaveLength(4);
    expect(warnings.every((w) => typeof w.extra['sequenceNumber'] === 'string')).toBe(true);
    expect(warnings.every((w) => w.extra['shardId'] === 'shardId-000000000006')).toBe(true);

    // The valid ones were scored: racers 1, 2 and 5 (from inside the aggregate).
    expect([...(await totalsOf(store, 1)).keys()].sort()).toEqual([1, 2, 5]);
  });

  it('records refused at merge time are stored once per payload: each user record of an aggregate as itself', async () => {
    const { processor, sink, metrics, store } = setup();
    // Race 1 is of class 3 (its first record says so); then records that name other classes for it.
    const first = raceMessage(1, 1, 0, { classId: 3 });
    const [aggregated] = aggregate([
      { partitionKey: '2', data: json(raceMessage(1, 2, 0, { classId: 3 })) },
      { partitionKey: '3', data: json(raceMessage(1, 3, 0, { classId: 9 })) },
      { partitionKey: '4', data: json(raceMessage(1, 4, 0, { classId: 8 })) },
    ]);
    const batch = toBatch([0, 1, 2].map((s) => raceMessage(1, 5, s, { classId: 7 })));
    const records = [messageRecord(first), kinesisRecord(aggregated!.data), kinesisRecord(json(batch))];
    expect(await processor.process(event(records))).toEqual({ batchItemFailures: [] });

    const reports = [...sink.reports.values()].sort(
      (a, b) => (a.subSequenceNumber ?? 99) - (b.subSequenceNumber ?? 99),
    );
    expect(reports.map((r) => [r.reason.code, r.subSequenceNumber, r.reason.message.slice(-5)])).toEqual([
      ['class_mismatch', 1, 'not 9'],
      ['class_mismatch', 2, 'not 8'],
      ['class_mismatch', undefined, 'not 7'],
    ]);
    // Each user record's report holds its own bytes; the batch's, the whole record.
    expect(JSON.parse(Buffer.from(reports[0]!.dataBase64, 'base64').toString())).toMatchObject({
      racerId: 3,
    });
    expect(JSON.parse(Buffer.from(reports[1]!.dataBase64, 'base64').toString())).toMatchObject({
      racerId: 4,
    });
    expect(reports[2]!.dataBase64).toBe(records[2]!.kinesis.data);
    expect(metrics.get('InvalidRecords')).toBe(3);
    expect([...(await totalsOf(store, 1)).keys()].sort()).toEqual([1, 2]);
  });

  it('an invocation still waiting at its deadline hands the whole batch back; the retry counts each second once', async () => {
    const { processor, store, metrics, logger } = setup();
    let release = () => {};
    store.stall('saveBoard', new Promise<void>((resolve) => (release = resolve)));
    const records = [
      ...[1, 2, 3].map((racerId) => messageRecord(raceMessage(1, racerId, 0))),
      kinesisRecord(Buffer.from('not json')), // written to the sink after the races, by the abandoned run
    ];
    const startedAt = Date.now();
    const response = await processor.process(event(records), Date.now() + 150);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.kinesis.sequenceNumber }] });
    expect(metrics.get('InvocationsOutOfTime')).toBe(1);
    expect(metrics.get('BatchItemFailures')).toBe(4);
    expect(logger.entries.some((e) => e.level === 'error' && /out of time/u.test(e.message))).toBe(true);

    // The hung write completes later; the abandoned run adds no metrics of its own, logs under its own
    // shard whatever keys the logger holds by then, and the retry finds the seconds already counted.
    const secondsBefore = metrics.get('SecondsCounted');
    logger.appendKeys({ shardId: 'shardId-000000000099' }); // as the next invocation's would be
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(metrics.get('SecondsCounted')).toBe(secondsBefore);
    const late = logger.entries.filter((e) => e.message === 'invalid record');
    expect(late.map((e) => e.extra['shardId'])).toEqual(['shardId-000000000006']);
    store.stall('saveBoard', Promise.resolve());
    expect(await processor.process(event(records), Date.now() + 5_000)).toEqual({ batchItemFailures: [] });
    const totals = await totalsOf(store, 1);
    expect([...totals.entries()]).toEqual([1, 2, 3].map((r) => [r, expectedTotal(1, r, [0])]));
  });

  it('a throttled race returns a failure from its first record; the retry counts nothing twice', async () => {
    const { processor, store } = setup();
    const records: KinesisStreamRecord[] = [];
    for (let s = 0; s < 5; s++) {
      records.push(messageRecord(raceMessage(1, 10, s)));
      records.push(messageRecord(raceMessage(2, 20, s)));
    }
    store.failNext('saveBoard', throttlingError(), 2);
    const response = await processor.process(event(records));
    // Race 2's first record is index 1: Lambda resumes there; race 1 already counted records 2..9 too.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1]!.kinesis.sequenceNumber }]);
    expect((await totalsOf(store, 2)).size).toBe(0);

    const retry = await processor.process(event(records.slice(1)));
    expect(retry).toEqual({ batchItemFailures: [] });
    expect((await totalsOf(store, 1)).get(10)).toBeCloseTo(expectedTotal(1, 10, [0, 1, 2, 3, 4]), 9);
    expect((await totalsOf(store, 2)).get(20)).toBeCloseTo(expectedTotal(2, 20, [0, 1, 2, 3, 4]), 9);
    const board1 = await store.loadBoard(1);
    expect(board1!.racers.get(10)!.count).toBe(5);
  });

  it('non-retryable faults of the environment still hand the records back (nothing valid is dropped)', async () => {
    const { processor, store, logger } = setup();
    const records = [messageRecord(raceMessage(1, 10, 0))];
    store.failNext('loadBoard', accessDeniedError(), 1);
    const response = await processor.process(event(records));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.kinesis.sequenceNumber }]);
    expect(logger.entries.find((e) => e.level === 'error')!.extra['retryable']).toBe(false);
  });

  it('a failing errors sink hands back the invalid record instead of losing it', async () => {
    const sink = new MemoryInvalidRecordSink();
    sink.write = async () => {
      throw throttlingError();
    };
    const { processor } = setup({ sink });
    const records = [messageRecord(raceMessage(1, 1, 0)), kinesisRecord(Buffer.from('nope'))];
    const response = await processor.process(event(records));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1]!.kinesis.sequenceNumber }]);
  });

  it('a race whose state cannot take its records (board too large) sends them to the errors sink, not back', async () => {
    const { processor, store, sink } = setup();
    const records = [messageRecord(raceMessage(1, 10, 0)), messageRecord(raceMessage(2, 20, 0))];
    store.failNext('saveBoard', new BoardTooLargeError(2, 500_000, 389_120), 2);
    const response = await processor.process(event(records));
    expect(response).toEqual({ batchItemFailures: [] });
    const reports = [...sink.reports.values()];
    expect(reports).toHaveLength(1);
    expect(reports[0]!.reason.code).toBe('state_rejected');
    expect(reports[0]!.sequenceNumber).toBe(records[1]!.kinesis.sequenceNumber);
    expect((await totalsOf(store, 1)).size).toBe(1);
  });

  it('a failed best update is retried with the records and applied once the retry comes', async () => {
    const { processor, store } = setup();
    const records = [0, 1, 2].map((s) =>
      messageRecord(raceMessage(1, 10, s, s === 2 ? { event: 'final' } : {})),
    );
    store.failNext('updateBest', throttlingError(), 1);
    const response = await processor.process(event(records));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.kinesis.sequenceNumber }]);
    expect(store.bests.size).toBe(0);
    await processor.process(event(records));
    expect(store.bests.get('10/3')!.best).toBeCloseTo(expectedTotal(1, 10, [0, 1, 2]), 9);
    expect((await store.loadBoard(1))!.racers.get(10)!.count).toBe(3);
  });
});

describe('IngestProcessor: leaderboards', () => {
  it('publishes the race standings to the class topic', async () => {
    const { processor, publisher } = setup();
    await processor.process(
      event([0, 1].flatMap((s) => [1, 2].map((r) => messageRecord(raceMessage(7, r, s))))),
    );
    expect(publisher.published).toHaveLength(1);
    const { topic, message } = publisher.published[0]!;
    expect(topic).toBe('alleycat-subscribe/3');
    expect(message).toMatchObject({ type: 'leaderboard', raceId: 7, classId: 3, second: 1, racers: 2 });
    expect(message.names).toHaveLength(2);
  });

  it('publishes once per second of the race; a version written after the seal goes out with the next round', async () => {
    const { processor, publisher, clock } = setup();
    const t0 = clock.now;
    const publishedAt = () => publisher.published.map((p) => p.message.publishedAt);
    await processor.process(event([messageRecord(raceMessage(7, 1, 0))]));
    // The race's first write claims second 0 and awaits nobody: sealed in that write, published at once.
    expect(publishedAt()).toEqual([t0]);
    // Second 1, 300 ms later: its write claims the round and brings in the one racer it awaits, but a
    // publish comes at least the minimum gap after the last one: it seals once the gap has passed.
    clock.now = t0 + 300;
    await processor.process(event([messageRecord(raceMessage(7, 1, 1))]));
    expect(publishedAt()).toEqual([t0, t0 + PUBLISH_MIN_GAP_MS]);
    expect(publisher.published[1]!.message.second).toBe(1);
    // A newcomer's second 1 after that seal: no newer second, no new round; it goes out with the next
    // one, and the invocation does not wait for it.
    clock.now = t0 + 850;
    await processor.process(event([messageRecord(raceMessage(7, 2, 1))]));
    expect(clock.now).toBe(t0 + 850);
    expect(publisher.published).toHaveLength(2);
    // Second 2 awaits both racers: racer 1 alone does not bring it in, racer 2's write does and publishes.
    clock.now = t0 + 1_750;
    await processor.process(event([messageRecord(raceMessage(7, 1, 2))]));
    expect(publisher.published).toHaveLength(2);
    clock.now = t0 + 1_900;
    await processor.process(event([messageRecord(raceMessage(7, 2, 2))]));
    expect(publishedAt()).toEqual([t0, t0 + PUBLISH_MIN_GAP_MS, t0 + 1_900]);
    expect(publisher.published[2]!.message).toMatchObject({ second: 2, racers: 2 });
    // A pure replay changes nothing and publishes nothing.
    clock.now += 5_000;
    await processor.process(event([messageRecord(raceMessage(7, 1, 1))]));
    expect(publisher.published).toHaveLength(3);
  });

  it('a round awaits its racers on every shard without holding the claimant; the write that brings the last in publishes', async () => {
    const { processor, publisher, store, clock } = setup();
    const t0 = clock.now;
    const onShard = (shard: number, m: ReturnType<typeof raceMessage>) =>
      messageRecord(m, { shardId: `shardId-00000000000${shard}` });
    // Second 0: racer 2 on shard 1 (published at once).
    await processor.process(event([onShard(1, raceMessage(7, 2, 0))]));
    // Second 1: shard 0 writes first (racer 1, a newcomer) and claims the round, which awaits racer 2.
    clock.now = t0 + 1_000;
    const shard0 = new IngestProcessor({
      store,
      publisher,
      sink: new MemoryInvalidRecordSink(),
      logger: new RecordingLogger(),
      metrics: new RecordingMetrics(),
      resultsTopicPrefix: 'alleycat-subscribe',
      raceTimeoutSeconds: 60,
      clock: () => clock.now,
      wait: async () => {
        throw new Error('a claimant must not wait for its round');
      },
    });
    expect(await shard0.process(event([onShard(0, raceMessage(7, 1, 1))]))).toEqual({
      batchItemFailures: [],
    });
    expect(publisher.published).toHaveLength(1);
    expect((await store.loadBoard(7))!.publish).toMatchObject({
      claimedAtMs: t0 + 1_000,
      second: 1,
      expected: 1,
    });
    // Shard 1's write of racer 2's second 1 brings the round in: it seals and publishes in that write.
    clock.now = t0 + 1_120;
    await processor.process(event([onShard(1, raceMessage(7, 2, 1))]));
    expect(publisher.published).toHaveLength(2);
    expect(publisher.published[1]!.message).toMatchObject({ second: 1, racers: 2, publishedAt: t0 + 1_120 });
    expect((await store.loadBoard(7))!.publish).toMatchObject({
      version: 3,
      claimedAtMs: t0 + 1_000,
      sealedAtMs: t0 + 1_000,
    });
  });

  it('a racer later than the settle delay does not hold its round back: the next write publishes it', async () => {
    const { processor, publisher, store, clock } = setup();
    const t0 = clock.now;
    await processor.process(event([1, 2, 3].map((r) => messageRecord(raceMessage(7, r, 0)))));
    expect(publisher.published).toHaveLength(1);
    // Second 1 of racers 1 and 2; racer 3's is late.
    clock.now = t0 + 1_000;
    await processor.process(event([1, 2].map((r) => messageRecord(raceMessage(7, r, 1)))));
    expect(publisher.published).toHaveLength(1);
    // Within the settle delay a write of the same second (a newcomer) leaves the round waiting...
    clock.now = t0 + 1_000 + DEFAULT_PUBLISH_SETTLE_MS - 100;
    await processor.process(event([messageRecord(raceMessage(7, 4, 1))]));
    expect(publisher.published).toHaveLength(1);
    // ...past it, the next write seals the round without racer 3's second 1 and publishes what it wrote.
    clock.now = t0 + 1_000 + DEFAULT_PUBLISH_SETTLE_MS + 50;
    await processor.process(event([messageRecord(raceMessage(7, 5, 1))]));
    expect(clock.now).toBe(t0 + 1_000 + DEFAULT_PUBLISH_SETTLE_MS + 50); // no wait
    expect(publisher.published).toHaveLength(2);
    const round = publisher.published[1]!.message;
    expect(round).toMatchObject({ second: 1, racers: 5 });
    expect(round.standings.find((s) => s[0] === 3)![2]).toBeCloseTo(expectedTotal(7, 3, [0]), 2);
    expect((await store.loadBoard(7))!.publish.version).toBe(4);
  });

  it('a final written inside the second waits for the slot and is published (nothing may follow it)', async () => {
    const { processor, publisher, clock } = setup();
    await processor.process(
      event([messageRecord(raceMessage(7, 1, 0)), messageRecord(raceMessage(7, 2, 0))]),
    );
    clock.now += 300;
    await processor.process(
      event([
        messageRecord(raceMessage(7, 1, 1, { event: 'final' })),
        messageRecord(raceMessage(7, 2, 1, { event: 'final' })),
      ]),
    );
    expect(publisher.published).toHaveLength(2);
    const last = publisher.published[1]!.message;
    expect(last.closed).toBe(true);
    expect(last.publishedAt - publisher.published[0]!.message.publishedAt).toBeGreaterThanOrEqual(
      PUBLISH_MIN_GAP_MS,
    );
  });

  it('a retryable publish failure hands back the race’s records; the retry publishes without recounting', async () => {
    const { processor, publisher, store, clock } = setup();
    const records = [0, 1, 2].map((s) => messageRecord(raceMessage(7, 1, s)));
    publisher.failNext(throttlingError());
    const response = await processor.process(event(records));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.kinesis.sequenceNumber }]);
    expect(publisher.published).toHaveLength(0);
    clock.now += 200;
    expect(await processor.process(event(records))).toEqual({ batchItemFailures: [] });
    expect(publisher.published).toHaveLength(1);
    expect(publisher.published[0]!.message.standings[0]![2]).toBeCloseTo(expectedTotal(7, 1, [0, 1, 2]), 2);
    expect((await store.loadBoard(7))!.racers.get(1)!.count).toBe(3);
  });

  it('a claim made by a lost write is not used: only a stored claim publishes', async () => {
    const { processor, store, publisher } = setup();
    // Another shard writes the same records (and claims the slot) between this invocation's read and write.
    const save = store.saveBoard.bind(store);
    let raced = false;
    store.saveBoard = async (board, expected) => {
      if (!raced) {
        raced = true;
        const racers = decodeRacers(
          encodeRacers(board.racers.values(), board.lastArrivalMs),
          board.lastArrivalMs,
        );
        await save({ ...board, racers }, expected);
        return false;
      }
      return save(board, expected);
    };
    const response = await processor.process(event([messageRecord(raceMessage(7, 1, 0))]));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(publisher.published).toHaveLength(0);
    expect((await store.loadBoard(7))!.racers.get(1)!.count).toBe(1);
  });

  it('every scheduled sweep counts itself; one that cannot list the open races logs it, counts it and throws', async () => {
    const { processor, store, metrics, logger } = setup();
    await processor.sweep();
    expect(metrics.get('SweepRuns')).toBe(1);
    expect(metrics.get('SweepFailures')).toBe(0);
    const original = store.listOpen.bind(store);
    store.listOpen = async () => {
      throw throttlingError();
    };
    await expect(processor.sweep()).rejects.toThrow(/Rate exceeded/);
    expect(metrics.get('SweepRuns')).toBe(2);
    expect(metrics.get('SweepFailures')).toBe(1);
    expect(
      logger.entries.some((e) => e.level === 'error' && /could not list the open races/u.test(e.message)),
    ).toBe(true);
    store.listOpen = original;
  });

  it('a retryable publish failure is logged with the sequence number the batch resumes from', async () => {
    const { processor, publisher, logger } = setup();
    publisher.failNext(throttlingError());
    const records = [messageRecord(raceMessage(1, 1, 0))];
    await processor.process(event(records));
    const entry = logger.entries.find((e) => e.message.startsWith('leaderboard publish failed'));
    expect(entry?.extra['sequenceNumber']).toBe(records[0]!.kinesis.sequenceNumber);
  });

  it('a refused publish (not retryable) is logged, not retried', async () => {
    const { processor, publisher, logger } = setup();
    publisher.failNext(accessDeniedError());
    const response = await processor.process(event([messageRecord(raceMessage(7, 1, 0))]));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(logger.entries.some((e) => e.message === 'leaderboard publish refused')).toBe(true);
  });
});

describe('IngestProcessor: the publish slot under failure', () => {
  it('a round whose awaited racer never comes is sealed by the retry of a batch (records already counted)', async () => {
    const { processor, publisher, store, clock } = setup();
    const t0 = clock.now;
    const onShard = (shard: number, m: ReturnType<typeof raceMessage>) =>
      messageRecord(m, { shardId: `shardId-00000000000${shard}` });
    // Racer 3 (shard C) wrote second 0 a second ago (published at once): the next round awaits it.
    clock.now = t0 - 1_000;
    await processor.process(event([onShard(9, raceMessage(7, 3, 0))]));
    expect(publisher.published).toHaveLength(1);
    // Shard A writes racer 1's second 1 and claims; shard B writes racer 2's within the settle delay. Racer
    // 3's second 1 never comes, so the round is neither in nor, for lack of a later write, sealed.
    clock.now = t0;
    const recordsA = [onShard(6, raceMessage(7, 1, 1))];
    await processor.process(event(recordsA));
    clock.now = t0 + 300;
    await processor.process(event([onShard(8, raceMessage(7, 2, 1))]));
    expect(clock.now).toBe(t0 + 300); // nobody waits
    expect(publisher.published).toHaveLength(1);
    const slot = (await store.loadBoard(7))!.publish;
    expect(slot.claimedAtMs).toBe(t0);
    expect(slot.sealedAtMs).not.toBe(t0);
    // Lambda retries A's batch (its container died after the write): nothing to count, but the claim is
    // past the settle delay, so the retry seals it and publishes every racer, as a write would have.
    clock.now = t0 + DEFAULT_PUBLISH_SETTLE_MS + 100;
    expect(await processor.process(event(recordsA))).toEqual({ batchItemFailures: [] });
    expect(clock.now).toBe(t0 + DEFAULT_PUBLISH_SETTLE_MS + 100);
    expect(publisher.published).toHaveLength(2);
    expect(publisher.published[1]!.message.racers).toBe(3);
    expect((await store.loadBoard(7))!.publish.version).toBe(3);
  });

  it('publishDutyOf: nothing when published or covered by an unsealed young claim; else a trailing claim', () => {
    const slot = {
      claimedAtMs: 1_000,
      sealedAtMs: 1_000,
      sentAtMs: 1_150,
      version: 4,
      racers: 2,
      second: 0,
      expected: 0,
    };
    expect(publishDutyOf(7, 4, slot, 1_500, 1_000)).toBeUndefined(); // this version is out
    expect(publishDutyOf(7, 5, slot, 1_500, 1_000)).toEqual({
      raceId: 7,
      afterClaimAtMs: 1_000,
      claimAtMs: 2_000,
      version: 5,
      second: 0,
    });
    // A version with a newer second than the sealed claim's round: the next round, the minimum gap after.
    expect(publishDutyOf(7, 5, slot, 1_500, 1_000, 1, 750)).toMatchObject({ claimAtMs: 1_750, second: 1 });
    const unsealed = { ...slot, claimedAtMs: 2_000 };
    expect(publishDutyOf(7, 5, unsealed, 2_100, 1_000)).toBeUndefined(); // its seal will read version 5
    // A claim unsealed for a whole interval is dead (or slow): not counted on.
    expect(publishDutyOf(7, 5, unsealed, 3_000, 1_000)).toEqual({
      raceId: 7,
      afterClaimAtMs: 2_000,
      claimAtMs: 3_000,
      version: 5,
      second: 0,
    });
  });
});

describe('IngestProcessor: closing races', () => {
  it('final sets the best for the class; a weaker later race does not lower it', async () => {
    const { processor, store, clock } = setup();
    await processor.process(
      event([0, 1, 2].map((s) => messageRecord(raceMessage(1, 10, s, s === 2 ? { event: 'final' } : {})))),
    );
    const best = store.bests.get('10/3')!.best;
    expect(best).toBeCloseTo(expectedTotal(1, 10, [0, 1, 2]), 9);
    clock.now += 10_000;
    const failuresBefore = store.stats.conditionalFailures;
    const writesBefore = store.stats.writes;
    await processor.process(event([messageRecord(raceMessage(2, 10, 0, { event: 'final' }))]));
    expect(store.bests.get('10/3')!.best).toBe(best);
    // The stored best was read first: the weaker race cost no (failing) conditional write on it — only its
    // own board writes (create + the trailing round of a race closed at once).
    expect(store.stats.conditionalFailures).toBe(failuresBefore);
    expect(store.stats.writes - writesBefore).toBeLessThanOrEqual(3);
    // A second after final still counts, and raises the best.
    clock.now += 10_000;
    await processor.process(event([messageRecord(raceMessage(1, 10, 3))]));
    expect(store.bests.get('10/3')!.best).toBeCloseTo(expectedTotal(1, 10, [0, 1, 2, 3]), 9);
  });

  it('bests wait for the race to close: a racer who finished early gets theirs with everyone, at the close', async () => {
    const { processor, store } = setup();
    // Racer 10 finishes at second 1 while racer 11 rides on: no best yet (the race is open).
    await processor.process(
      event([
        messageRecord(raceMessage(1, 10, 0)),
        messageRecord(raceMessage(1, 11, 0)),
        messageRecord(raceMessage(1, 10, 1, { event: 'final' })),
        messageRecord(raceMessage(1, 11, 1)),
      ]),
    );
    expect(store.bests.size).toBe(0);
    // Racer 11's final closes the race: both bests, racer 10's included though none of its records came.
    await processor.process(event([messageRecord(raceMessage(1, 11, 2, { event: 'final' }))]));
    expect(store.bests.get('10/3')!.best).toBeCloseTo(expectedTotal(1, 10, [0, 1]), 9);
    expect(store.bests.get('11/3')!.best).toBeCloseTo(expectedTotal(1, 11, [0, 1, 2]), 9);
  });

  it('bests are read before they are written; a failed read writes them all (nothing skipped unread)', async () => {
    const { processor, store } = setup();
    const reads: number[] = [];
    const readBests = store.readBests.bind(store);
    store.readBests = async (keys) => {
      reads.push(keys.length);
      if (reads.length === 1) throw new Error('read refused');
      return readBests(keys);
    };
    await processor.process(
      event([10, 11].map((racer) => messageRecord(raceMessage(1, racer, 0, { event: 'final' })))),
    );
    expect(reads).toEqual([2]);
    expect([...store.bests.keys()].sort()).toEqual(['10/3', '11/3']); // written anyway
    await processor.process(
      event([10, 11].map((racer) => messageRecord(raceMessage(2, racer, 0, { event: 'final' })))),
    );
    expect(reads).toEqual([2, 2]);
  });

  it('a new race is indexed for the timeout sweep even when indexing failed the first time', async () => {
    const { processor, store } = setup();
    const records = [messageRecord(raceMessage(8, 1, 0))];
    store.failNext('markOpen', throttlingError(), 8);
    expect((await processor.process(event(records))).batchItemFailures).toHaveLength(1);
    expect(store.open.has(8)).toBe(false);
    expect(await store.loadBoard(8)).toBeUndefined();
    expect(await processor.process(event(records))).toEqual({ batchItemFailures: [] });
    expect(store.open.has(8)).toBe(true);
  });

  it('a race whose finals never came closes after the timeout and publishes closed standings', async () => {
    const { processor, store, publisher, clock } = setup({ timeoutSeconds: 30 });
    await processor.process(event([0, 1].map((s) => messageRecord(raceMessage(5, 1, s)))));
    expect(store.open.has(5)).toBe(true);
    // Nothing more for race 5; another race keeps the shard busy 40 s later.
    clock.now = T0 + 45_000;
    await processor.process(event([messageRecord(raceMessage(6, 2, 44))]));
    const board = await store.loadBoard(5);
    expect(board!.racers.get(1)!.closed).toBe('timeout');
    const closedBoards = publisher.published.filter((p) => p.message.raceId === 5 && p.message.closed);
    expect(closedBoards).toHaveLength(1);
    expect(store.bests.get('1/3')!.best).toBeCloseTo(expectedTotal(5, 1, [0, 1]), 9);
    expect(store.open.has(5)).toBe(false);
  });
});

describe('IngestProcessor: the scheduled sweep (nothing else runs once traffic stops)', () => {
  it('publishes a round that awaited a racer who never came, and then the versions after its seal', async () => {
    const { processor, publisher, store, clock } = setup();
    const t0 = clock.now;
    await processor.process(event([1, 2].map((r) => messageRecord(raceMessage(7, r, 0)))));
    expect(publisher.published).toHaveLength(1);
    // Second 1 of racer 1 only; racer 2 stops. Then the stream is silent: no write seals the round.
    clock.now = t0 + 1_000;
    await processor.process(event([messageRecord(raceMessage(7, 1, 1))]));
    expect(publisher.published).toHaveLength(1);
    // Within the settle delay the sweep leaves the round alone (a write may still bring racer 2 in)...
    clock.now = t0 + 1_000 + DEFAULT_PUBLISH_SETTLE_MS - 50;
    expect(await processor.sweep()).toEqual({ open: 1, closed: 0, published: 0, failed: 0 });
    // ...after it, the sweep seals and publishes it.
    clock.now = t0 + 5_000;
    expect(await processor.sweep()).toEqual({ open: 1, closed: 0, published: 1, failed: 0 });
    expect(publisher.published.at(-1)!.message).toMatchObject({ second: 1, racers: 2 });
    // A newcomer's second 1 after that seal: no newer second, no round; the next sweep publishes it.
    clock.now = t0 + 5_200;
    await processor.process(event([messageRecord(raceMessage(7, 3, 1))]));
    expect(publisher.published).toHaveLength(2);
    clock.now = t0 + 7_000;
    expect(await processor.sweep()).toMatchObject({ published: 1, failed: 0 });
    expect(publisher.published.at(-1)!.message.racers).toBe(3);
    expect((await store.loadBoard(7))!.publish.version).toBe((await store.loadBoard(7))!.version);
    // Nothing owed: nothing published.
    clock.now = t0 + 8_000;
    expect(await processor.sweep()).toMatchObject({ published: 0 });
    expect(publisher.published).toHaveLength(3);
  });

  it('closes a race idle past the timeout even when no other race keeps the stream busy', async () => {
    const { processor, publisher, store, clock } = setup({ timeoutSeconds: 30 });
    await processor.process(event([0, 1].map((s) => messageRecord(raceMessage(5, 1, s)))));
    clock.now = T0 + 45_000;
    expect(await processor.sweep()).toEqual({ open: 1, closed: 1, published: 0, failed: 0 });
    expect((await store.loadBoard(5))!.racers.get(1)!.closed).toBe('timeout');
    expect(publisher.published.filter((p) => p.message.raceId === 5 && p.message.closed)).toHaveLength(1);
    expect(store.open.has(5)).toBe(false);
  });
});
