/**
 * The decode matrix: every form a record's data can take, valid or not. KPL aggregates come from two
 * encoders: `@alleycat/kinesis-agg` and the independent awslabs `aws-kinesis-agg` (protobufjs-based).
 */
import { createRequire } from 'node:module';
import { aggregate } from '@alleycat/kinesis-agg';
import { type RaceMessage, type RaceRow, toBatch } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { decodeBase64Transient, readKinesisData, readRecordData } from '../src/decode.js';
import { json, raceMessage } from './helpers/events.js';

interface TheirEncoded {
  partitionKey: string;
  data: Buffer;
}
interface TheirModule {
  aggregate(
    records: Array<{ partitionKey: string; data: Buffer }>,
    onEncoded: (encoded: TheirEncoded, callback: (err?: Error) => void) => void,
    afterAll: () => void,
    onError: (error: Error) => void,
  ): void;
}
// Loaded through require: its bundled typings import aws-sdk v2, which this package does not have.
const theirs = createRequire(import.meta.url)('aws-kinesis-agg') as TheirModule;

function theirAggregate(records: Array<{ partitionKey: string; data: Uint8Array }>): Promise<TheirEncoded[]> {
  return new Promise((resolve, reject) => {
    const out: TheirEncoded[] = [];
    theirs.aggregate(
      records.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data) })),
      (encoded, callback) => {
        out.push(encoded);
        callback();
      },
      () => resolve(out),
      reject,
    );
  });
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** A message as the decoder hands it on: without the uuid and client id (checked, not copied). */
const row = ({ uuid, clientId, ...fields }: RaceMessage): RaceRow => fields;

/** Reads a record, copying each row as it is visited (the decoder refills one). */
function collect(read: (visit: (r: Readonly<RaceRow>) => void) => readonly unknown[]) {
  const messages: RaceRow[] = [];
  const rejections = read((r) => {
    messages.push({ ...r }); // the row's own fields only: its offsets are not enumerable
  }) as ReturnType<typeof readKinesisData>;
  return { messages, rejections };
}
const decodeKinesisData = (base64: string) => collect((visit) => readKinesisData(base64, visit));
const decodeRecordData = (bytes: Uint8Array) => collect((visit) => readRecordData(bytes, visit));

describe('readKinesisData', () => {
  it('single race message (what the IoT rule writes, with the client id)', () => {
    const m = { ...raceMessage(1, 42, 7), clientId: 'racer-42' };
    const out = decodeKinesisData(b64(json(m)));
    expect(out.rejections).toEqual([]);
    expect(out.messages).toEqual([row(m)]);
  });

  it('batch form expands to one message per sample', () => {
    const batch = toBatch([0, 1, 2].map((s) => raceMessage(1, 42, s)));
    const out = decodeKinesisData(b64(json(batch)));
    expect(out.rejections).toEqual([]);
    expect(out.messages.map((m) => m.second)).toEqual([0, 1, 2]);
    expect(out.messages.every((m) => m.racerId === 42 && m.raceId === 1)).toBe(true);
  });

  it('KPL aggregate from @alleycat/kinesis-agg', () => {
    const messages = [0, 1, 2, 3].map((s) => raceMessage(1, 10 + s, s));
    const [record] = aggregate(messages.map((m) => ({ partitionKey: String(m.racerId), data: json(m) })));
    expect(record!.aggregated).toBe(true);
    const out = decodeKinesisData(b64(record!.data));
    expect(out.messages).toEqual(messages.map(row));
  });

  it('KPL aggregate from the independent aws-kinesis-agg, single and batch forms mixed', async () => {
    const singles = Array.from({ length: 100 }, (_, i) => raceMessage(2, 500 + i, i % 30));
    const batch = toBatch([40, 41].map((s) => raceMessage(2, 999, s)));
    const encoded = await theirAggregate([
      ...singles.map((m) => ({ partitionKey: `racer-${m.racerId}`, data: json(m) })),
      { partitionKey: 'racer-999', data: json(batch) },
    ]);
    expect(encoded).toHaveLength(1);
    expect([...encoded[0]!.data.subarray(0, 4)]).toEqual([0xf3, 0x89, 0x9a, 0xc2]);
    const out = decodeKinesisData(encoded[0]!.data.toString('base64'));
    expect(out.rejections).toEqual([]);
    expect(out.messages).toEqual(
      [...singles, ...batch.samples.map((_, i) => raceMessage(2, 999, 40 + i))].map(row),
    );
  });

  it('aggregate with one bad user record: the others still count, the bad one is named by sub-sequence', () => {
    const good = [raceMessage(1, 1, 0), raceMessage(1, 2, 0)];
    const [record] = aggregate([
      { partitionKey: '1', data: json(good[0]) },
      { partitionKey: 'x', data: Buffer.from('{"event":"update"') },
      { partitionKey: '2', data: json(good[1]) },
    ]);
    const out = decodeKinesisData(b64(record!.data));
    expect(out.messages).toEqual(good.map(row));
    expect(out.rejections).toHaveLength(1);
    expect(out.rejections[0]!.subSequenceNumber).toBe(1);
    expect(out.rejections[0]!.reason.code).toBe('not_json');
    expect(Buffer.from(out.rejections[0]!.data).toString()).toBe('{"event":"update"');
  });

  it('a payload base64-encoded twice is not_json with a hint saying so; other bad payloads get no hint', () => {
    const twice = decodeKinesisData(b64(Buffer.from(b64(json(raceMessage(1, 1, 0))))));
    expect(twice.messages).toEqual([]);
    expect(twice.rejections[0]!.reason.code).toBe('not_json');
    expect(twice.rejections[0]!.reason.message).toMatch(/base64-encoded twice.*raw-in-base64-out/);
    for (const text of ['aGVsbG8gd29ybGQh', '{"event":"update"', 'bm90IGpzb24=']) {
      const out = decodeKinesisData(b64(Buffer.from(text)));
      expect(out.rejections[0]!.reason.code, text).toBe('not_json');
      expect(out.rejections[0]!.reason.message, text).not.toContain('twice');
    }
  });

  it('corrupt aggregate (flipped byte, MD5 mismatch) is rejected whole', () => {
    const [record] = aggregate([0, 1].map((s) => ({ partitionKey: 'k', data: json(raceMessage(1, 1, s)) })));
    const data = Buffer.from(record!.data);
    data[10] = data[10]! ^ 0xff;
    const out = decodeKinesisData(data.toString('base64'));
    expect(out.messages).toEqual([]);
    expect(out.rejections).toHaveLength(1);
    expect(out.rejections[0]!.reason.code).toBe('corrupt_aggregate');
    expect(out.rejections[0]!.reason.message).toMatch(/checksum_mismatch/);
  });

  it('truncated aggregate is rejected', () => {
    const out = decodeRecordData(Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2, 1, 2));
    expect(out.rejections[0]!.reason.code).toBe('corrupt_aggregate');
  });

  it('not base64', () => {
    for (const text of [
      'not base64!',
      'ab!d',
      'YWJj=ZGVm',
      'YWJjZA',
      'YWJj ZA==',
      'YW\nJjZA==',
      'YWJjZA=x',
      '====',
    ]) {
      const out = decodeKinesisData(text);
      expect(out.rejections[0]!.reason.code, text).toBe('not_base64');
    }
    const decode = decodeBase64Transient;
    expect(decode('')?.length).toBe(0);
    // Any one character replaced by one outside the alphabet is caught, at any position and length.
    for (let n = 1; n < 40; n++) {
      const text = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff)).toString('base64');
      expect(Buffer.from(decode(text)!)).toEqual(Buffer.from(text, 'base64'));
      for (let i = 0; i < text.length; i++) {
        for (const bad of ['!', ' ', '.', '\u00e9']) {
          const mangled = text.slice(0, i) + bad + text.slice(i + 1);
          expect(decode(mangled), `${decode.name} ${JSON.stringify(mangled)}`).toBeUndefined();
        }
      }
    }
    expect(Buffer.from(decode('YWJjZA==')!).toString()).toBe('abcd');
    // Longer than the scratch space: it grows.
    const big = Buffer.alloc(20_000, 7);
    expect(Buffer.from(decode(big.toString('base64'))!)).toEqual(big);
  });

  it('a rejected payload keeps its bytes after later records reuse the decode space', () => {
    const bad = '{"event":"update","second":'; // not JSON: rejected with its payload
    const out = decodeKinesisData(Buffer.from(bad).toString('base64'));
    decodeKinesisData(Buffer.from(json(raceMessage(1, 2, 3))).toString('base64'));
    decodeKinesisData(Buffer.from('x'.repeat(200)).toString('base64'));
    expect(Buffer.from(out.rejections[0]!.data).toString()).toBe(bad);
  });

  it('records of any length one after another each decode as themselves (the decode space is reused)', () => {
    // Each record is read in place, up to the 0 written after it: never into what a longer one left.
    const long = raceMessage(1, 7, 3, {
      name: 'A much longer rider name',
      uuid: '123e4567-e89b-12d3-a456-426614174000',
    });
    const short = raceMessage(1, 8, 4, { name: 'Bo' });
    for (const m of [long, short, long, { ...short, name: 'Zoë' }, short]) {
      expect(decodeKinesisData(b64(json(m))).messages).toEqual([row(m)]);
    }
    // Short records, some starting like a KPL aggregate: judged as JSON (not_json), not read past their end.
    decodeKinesisData(b64(json(long)));
    for (const bytes of [[0xf3], [0xf3, 0x89], [0xf3, 0x89, 0x9a], [0x7b]]) {
      expect(decodeKinesisData(b64(Uint8Array.from(bytes))).rejections[0]!.reason.code).toMatch(
        /not_json|not_utf8/,
      );
    }
  });

  it('not JSON, not UTF-8, not an object', () => {
    expect(decodeKinesisData(b64(Buffer.from('Hello, this is a test.'))).rejections[0]!.reason.code).toBe(
      'not_json',
    );
    expect(decodeKinesisData(b64(Uint8Array.of(0x7b, 0xff, 0x7d))).rejections[0]!.reason.code).toBe(
      'not_utf8',
    );
    expect(decodeKinesisData(b64(json([1, 2]))).rejections[0]!.reason.code).toBe('not_object');
  });

  it('schema errors say what and where', () => {
    const bad = { ...raceMessage(1, 1, 0), cadence: 900 };
    const out = decodeKinesisData(b64(json(bad)));
    expect(out.messages).toEqual([]);
    expect(out.rejections[0]!.reason).toMatchObject({ code: 'out_of_range', path: '/cadence' });
    const missing: Record<string, unknown> = { ...raceMessage(1, 1, 0) };
    delete missing['racerId'];
    expect(decodeKinesisData(b64(json(missing))).rejections[0]!.reason).toMatchObject({
      code: 'missing_field',
      path: '/racerId',
    });
  });

  it('identity mismatch: a client id that is not racer-{racerId}', () => {
    const out = decodeKinesisData(b64(json({ ...raceMessage(1, 42, 0), clientId: 'racer-41' })));
    expect(out.rejections[0]!.reason).toMatchObject({ code: 'identity_mismatch', path: '/clientId' });
  });

  it('oversize single message is refused before parsing', () => {
    const big = { ...raceMessage(1, 1, 0), name: 'x'.repeat(2_000) };
    expect(decodeKinesisData(b64(json(big))).rejections[0]!.reason.code).toBe('too_large');
  });
});
