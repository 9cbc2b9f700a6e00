import { describe, expect, it } from 'vitest';
import {
  checkIdentity,
  clientIdFor,
  describeParseError,
  escapeForTerraform,
  INGEST_RULE_NAME,
  INGEST_RULE_SQL,
  IOT_RULE_NAME_PATTERN,
  invalidRecordKey,
  PARTITION_KEY_TEMPLATES,
  resultsTopicFor,
} from './index.js';

describe('identity', () => {
  it('names bikes racer-{racerId}', () => {
    expect(clientIdFor(7)).toBe('racer-7');
  });
  it('passes records without a client id and matching ones, refuses others', () => {
    expect(checkIdentity({ racerId: 7 })).toBeUndefined();
    expect(checkIdentity({ racerId: 7, clientId: 'racer-7' })).toBeUndefined();
    const error = checkIdentity({ racerId: 7, clientId: 'racer-8' });
    expect(error).toMatchObject({ code: 'identity_mismatch', path: '/clientId' });
    expect(describeParseError(error!)).toContain('racer-7');
    expect(checkIdentity({ racerId: 7, clientId: 'racer-07' })?.code).toBe('identity_mismatch');
  });
});

describe('contract', () => {
  it('has an IoT-legal rule name and SQL that adds the client id after the payload', () => {
    expect(INGEST_RULE_NAME).toMatch(IOT_RULE_NAME_PATTERN);
    expect(INGEST_RULE_SQL).toBe("SELECT *, clientid() AS clientId FROM 'alleycat-publish'");
  });
  it('escapes substitution templates for Terraform', () => {
    expect(escapeForTerraform(PARTITION_KEY_TEMPLATES.timestamp)).toBe('$${timestamp()}');
    expect(escapeForTerraform('a-${racerId}-${classId}')).toBe('a-$${racerId}-$${classId}');
  });
  it('routes results per class', () => {
    expect(resultsTopicFor(3)).toBe('alleycat-subscribe/3');
  });
  it('files invalid records by day, shard and sequence number', () => {
    expect(
      invalidRecordKey({
        shardId: 'shardId-000000000001',
        sequenceNumber: '4959',
        rejectedAt: '2026-11-27T14:00:00.000Z',
      }),
    ).toBe('invalid/2026/11/27/shardId-000000000001/4959.json');
    expect(
      invalidRecordKey({
        shardId: 's',
        sequenceNumber: '1',
        subSequenceNumber: 3,
        rejectedAt: '2026-01-02T00:00:00Z',
      }),
    ).toBe('invalid/2026/01/02/s/1-3.json');
  });
});
