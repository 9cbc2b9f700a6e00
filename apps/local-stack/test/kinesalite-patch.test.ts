/**
 * kinesalite is patched (`patches/kinesalite@3.3.3.patch`): its sequence numbers and hash keys use native
 * BigInt instead of bignumber.js. The fixture holds what the unpatched 3.3.3 returned for the same calls —
 * every sequence version, odd input and its errors included — so the patch must give exactly those.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { GetRecordsCommand, GetShardIteratorCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { localKinesisClient } from '../src/kinesis/client.js';
import { startKinesalite } from '../src/kinesis/kinesalite.js';
import { createStream } from './helpers.js';

interface Vector {
  fn: 'stringifySequence' | 'parseSequence' | 'incrementSequence' | 'partitionKeyToHashKey';
  args: unknown[];
  ok?: unknown;
  error?: string;
}

const vectors = JSON.parse(
  readFileSync(new URL('./fixtures/kinesalite-sequences.json', import.meta.url), 'utf8'),
) as Vector[];
const kinesaliteDb = createRequire(createRequire(import.meta.url).resolve('kinesalite'))(
  './db/index.js',
) as Record<Vector['fn'], (...args: unknown[]) => unknown> & {
  hashKeyInRange(hashKey: bigint, range: { StartingHashKey: string; EndingHashKey: string }): boolean;
};

describe('patched kinesalite', () => {
  it('is the patched build (BigInt hash keys)', () => {
    expect(typeof kinesaliteDb.partitionKeyToHashKey('racer-1')).toBe('bigint');
  });

  it(`gives what the unpatched 3.3.3 gave, for all ${vectors.length} recorded calls`, () => {
    const differences: string[] = [];
    for (const v of vectors) {
      let got: unknown;
      try {
        const value = kinesaliteDb[v.fn](...v.args);
        got = { ok: typeof value === 'bigint' ? value.toString() : value };
      } catch (error) {
        got = { error: (error as Error).message };
      }
      const want = v.error === undefined ? { ok: v.ok } : { error: v.error };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        differences.push(
          `${v.fn}(${JSON.stringify(v.args)}): ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
        );
      }
    }
    expect(differences).toEqual([]);
  });

  it('routes a hash key to the shard whose range holds it, bounds included', () => {
    const range = {
      StartingHashKey: '170141183460469231731687303715884105728',
      EndingHashKey: '340282366920938463463374607431768211455',
    };
    expect(kinesaliteDb.hashKeyInRange(2n ** 127n, range)).toBe(true);
    expect(kinesaliteDb.hashKeyInRange(2n ** 127n - 1n, range)).toBe(false);
    expect(kinesaliteDb.hashKeyInRange(2n ** 128n - 1n, range)).toBe(true);
  });
});

interface MemIterator {
  next(callback: (error: Error | null, key?: string, value?: string) => void): void;
  end(callback: (error?: Error) => void): void;
}
interface MemDown {
  open(callback: (error?: Error) => void): void;
  batch(ops: Array<{ type: 'put'; key: string; value: string }>, callback: (error?: Error) => void): void;
  get(
    key: string,
    options: { asBuffer: boolean },
    callback: (error: Error | null, value?: string) => void,
  ): void;
  iterator(options: {
    keyAsBuffer: boolean;
    valueAsBuffer: boolean;
    gte?: string;
    lt?: string;
    reverse?: boolean;
    limit?: number;
  }): MemIterator;
}
/** kinesalite's in-memory store, as kinesalite itself resolves it. */
const memdown = createRequire(createRequire(import.meta.url).resolve('kinesalite'))(
  'memdown',
) as () => MemDown;

/** Event-loop turns (setImmediate rounds) that `work` takes. */
async function turnsOf(work: () => Promise<void>): Promise<number> {
  let turns = 0;
  let counting = true;
  const turn = () => {
    if (!counting) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  await work();
  counting = false;
  return turns;
}

describe('patched kinesalite: AT_TIMESTAMP iterators', () => {
  it('answers at once on a shard with no record at or after the timestamp, and reads what comes next', async () => {
    const kinesalite = await startKinesalite();
    const client = localKinesisClient(kinesalite.url, { maxAttempts: 1 });
    try {
      await createStream(client, 'at-timestamp', 1);
      const iteratorAt = async (timestamp: Date) =>
        (
          await client.send(
            new GetShardIteratorCommand({
              StreamName: 'at-timestamp',
              ShardId: 'shardId-000000000000',
              ShardIteratorType: 'AT_TIMESTAMP',
              Timestamp: timestamp,
            }),
            { abortSignal: AbortSignal.timeout(5_000) }, // unpatched, an empty shard never answered
          )
        ).ShardIterator!;
      const put = (data: string) =>
        client.send(
          new PutRecordCommand({ StreamName: 'at-timestamp', PartitionKey: 'k', Data: Buffer.from(data) }),
        );
      const read = async (iterator: string) =>
        ((await client.send(new GetRecordsCommand({ ShardIterator: iterator }))).Records ?? []).map((r) =>
          Buffer.from(r.Data!).toString(),
        );
      const empty = await iteratorAt(new Date(Date.now() - 1_000));
      await put('first');
      const beforeFirst = new Date(Date.now() - 60_000);
      await new Promise((r) => setTimeout(r, 20));
      const afterFirst = await iteratorAt(new Date());
      await put('second');
      expect(await read(empty)).toEqual(['first', 'second']);
      expect(await read(await iteratorAt(beforeFirst))).toEqual(['first', 'second']);
      expect(await read(afterFirst)).toEqual(['second']);
    } finally {
      client.destroy();
      await kinesalite.close();
    }
  });
});

describe("patched memdown (kinesalite's in-memory store)", () => {
  it('answers writes and reads on the next tick too (a PutRecords holds its stream lock through three)', async () => {
    const db = memdown();
    await new Promise<void>((resolve, reject) => db.open((e) => (e ? reject(e) : resolve())));
    const values: string[] = [];
    const turns = await turnsOf(async () => {
      for (let i = 0; i < 200; i++) {
        const key = `k${i}`;
        await new Promise<void>((resolve, reject) =>
          db.batch([{ type: 'put', key, value: `v${i}` }], (e) => (e ? reject(e) : resolve())),
        );
        values.push(
          await new Promise<string>((resolve, reject) =>
            db.get(key, { asBuffer: false }, (e, value) => (e ? reject(e) : resolve(value!))),
          ),
        );
      }
    });
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => `v${i}`));
    expect(turns).toBeLessThan(10); // unpatched: one a call, 400
  });

  it('steps a range read on the next tick, not once per event-loop turn, and reads the same records', async () => {
    const db = memdown();
    await new Promise<void>((resolve, reject) => db.open((e) => (e ? reject(e) : resolve())));
    const keys = Array.from({ length: 1_000 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    const ops = keys.map((key) => ({ type: 'put' as const, key, value: `v-${key}` }));
    await new Promise<void>((resolve, reject) => db.batch(ops, (e) => (e ? reject(e) : resolve())));

    // Unpatched, every record of a range read waited for an event-loop turn (a GetRecords of 500 took
    // 40-130 ms on a loop busy with other requests).
    const readAll = async (
      options: Omit<Parameters<MemDown['iterator']>[0], 'keyAsBuffer' | 'valueAsBuffer'>,
    ) => {
      const read: Array<[string, string]> = [];
      const iterator = db.iterator({ keyAsBuffer: false, valueAsBuffer: false, ...options });
      await new Promise<void>((resolve, reject) => {
        const step = () =>
          iterator.next((error, key, value) => {
            if (error) return reject(error);
            if (key === undefined) return iterator.end((e) => (e ? reject(e) : resolve()));
            read.push([key, value!]);
            step();
          });
        step();
      });
      return read;
    };
    let forward: Array<[string, string]> = [];
    const turns = await turnsOf(async () => {
      forward = await readAll({ gte: 'k0100' });
    });
    const entry = (key: string) => [key, `v-${key}`];
    expect(forward).toEqual(keys.slice(100).map(entry));
    expect(turns).toBeLessThan(10); // unpatched: 901
    // Bounds, direction and limits as before the patch.
    expect(await readAll({ lt: 'k0005' })).toEqual(keys.slice(0, 5).map(entry));
    expect(await readAll({ reverse: true, limit: 3 })).toEqual(keys.slice(-3).reverse().map(entry));
    expect(await readAll({ gte: 'k0990', lt: 'k0995', reverse: true })).toEqual(
      keys.slice(990, 995).reverse().map(entry),
    );
  });
});
