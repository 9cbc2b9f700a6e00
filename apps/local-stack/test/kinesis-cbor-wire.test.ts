import { describe, expect, it } from 'vitest';
import {
  cborToJsonShape,
  decodeCborParams,
  encodeCborAnswer,
  jsonShapeToCbor,
} from '../src/kinesis/cbor-wire.js';
import { decodeJavaStyle, encodeJavaStyle } from './java-cbor-client.js';

describe('AWS CBOR ↔ JSON shapes', () => {
  it('reads a GetShardIterator body as the Java SDK v2 writes it (tag 1 holding epoch milliseconds)', () => {
    // Bytes of an AT_TIMESTAMP request from an unmodified Java SDK v2 KinesisClient (Timestamp member only):
    // bf, "Timestamp", c1 (tag 1), 1b + 8 bytes (1787036486712 ms), ff.
    const body = Buffer.from('bf6954696d657374616d70c11b000001a013accc38ff', 'hex');
    expect(decodeCborParams(body)).toEqual({ Timestamp: 1787036486.712 });
  });

  it('turns byte strings into base64 and keeps the rest, from indefinite-length maps and arrays', () => {
    const body = encodeJavaStyle({
      StreamName: 's',
      Records: [
        { PartitionKey: 'p', Data: Buffer.from('hello'), ExplicitHashKey: '1' },
        { PartitionKey: 'q', Data: Buffer.alloc(0) },
      ],
      Limit: 25,
    });
    expect(body[0]).toBe(0xbf);
    expect(decodeCborParams(body)).toEqual({
      StreamName: 's',
      Records: [
        { PartitionKey: 'p', Data: 'aGVsbG8=', ExplicitHashKey: '1' },
        { PartitionKey: 'q', Data: '' },
      ],
      Limit: 25,
    });
  });

  it('reads an untagged number in a timestamp member as milliseconds too', () => {
    expect(cborToJsonShape({ ShardFilter: { Type: 'AT_TIMESTAMP', Timestamp: 1500 } })).toEqual({
      ShardFilter: { Type: 'AT_TIMESTAMP', Timestamp: 1.5 },
    });
    expect(cborToJsonShape({ Limit: 1500 })).toEqual({ Limit: 1500 });
  });

  it('refuses what is not one CBOR map', () => {
    expect(decodeCborParams(Buffer.from('{"StreamName":"s"}'))).toBeUndefined(); // JSON text is not CBOR
    expect(decodeCborParams(Buffer.from([0x83, 1, 2, 3]))).toBeUndefined(); // an array
    expect(decodeCborParams(Buffer.from([0xbf, 0x61]))).toBeUndefined(); // truncated
    expect(decodeCborParams(Buffer.alloc(0))).toBeUndefined();
    expect(decodeCborParams(Buffer.from([0xa0, 0xa0]))).toBeUndefined(); // trailing bytes
  });

  it('cannot be steered into replacing the prototype, and drops undefined members', () => {
    // { "__proto__": { "a": 1 }, "S": undefined }
    const params = decodeCborParams(Buffer.from('a2695f5f70726f746f5f5fa16161016153f7', 'hex'))!;
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect('a' in params).toBe(false);
    expect('S' in params).toBe(false);
  });

  it('answers Data as a byte string and timestamps as tag 1 epoch milliseconds', () => {
    const answer = {
      Records: [
        {
          SequenceNumber: '4968',
          ApproximateArrivalTimestamp: 1603152823.565,
          Data: Buffer.from('hello').toString('base64'),
          PartitionKey: 'p',
        },
      ],
      MillisBehindLatest: 0,
      NextShardIterator: 'AAAA',
    };
    const bytes = encodeCborAnswer(answer);
    // Data: major type 2, length 5, "hello".
    expect(bytes.includes(Buffer.from('4568656c6c6f', 'hex'))).toBe(true);
    // The timestamp: "ApproximateArrivalTimestamp", c1 (tag 1), 1b + 1603152823565 as 8 bytes.
    const key = Buffer.concat([Buffer.from([0x78, 27]), Buffer.from('ApproximateArrivalTimestamp')]);
    const at = bytes.indexOf(key) + key.length;
    expect(bytes.subarray(at, at + 10).toString('hex')).toBe(
      `c11b${(1603152823565).toString(16).padStart(16, '0')}`,
    );
    expect(decodeJavaStyle(bytes)).toEqual({
      Records: [
        {
          SequenceNumber: '4968',
          ApproximateArrivalTimestamp: new Date(1603152823565),
          Data: Buffer.from('hello'),
          PartitionKey: 'p',
        },
      ],
      MillisBehindLatest: 0,
      NextShardIterator: 'AAAA',
    });
  });

  it('round-trips: what a CBOR client sends comes back as it sent it', () => {
    const params = {
      StreamCreationTimestamp: new Date(1_700_000_000_123),
      Data: Buffer.from([0, 1, 2, 255]),
      Nested: [{ Timestamp: new Date(5) }],
    };
    const json = decodeCborParams(encodeJavaStyle(params));
    expect(json).toEqual({
      StreamCreationTimestamp: 1_700_000_000.123,
      Data: 'AAEC/w==',
      Nested: [{ Timestamp: 0.005 }],
    });
    expect(decodeJavaStyle(encodeCborAnswer(json))).toEqual(params);
    expect(jsonShapeToCbor('AAEC/w==')).toBe('AAEC/w=='); // outside a Data member a string stays a string
  });
});
