/**
 * dynalite 4.0.0 as patched (`patches/dynalite@4.0.0.patch`): the synthesized table's TTL and deletion
 * protection, which the stack sets at start, behave as DynamoDB's do for the calls a user makes on them.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
// @ts-expect-error dynalite ships no types
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: http.Server;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  server = (dynalite as (o: object) => http.Server)({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dynamo = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  dynamo.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const table = (name: string, DeletionProtectionEnabled?: boolean) =>
  new CreateTableCommand({
    TableName: name,
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
    ...(DeletionProtectionEnabled === undefined ? {} : { DeletionProtectionEnabled }),
  });

describe('dynalite, patched', () => {
  it('keeps the TTL setting: UpdateTimeToLive, then DescribeTimeToLive, refusing a change to the same state', async () => {
    await dynamo.send(table('ttl'));
    const describe = async () =>
      (await dynamo.send(new DescribeTimeToLiveCommand({ TableName: 'ttl' }))).TimeToLiveDescription;
    expect(await describe()).toEqual({ TimeToLiveStatus: 'DISABLED' });
    const on = { TableName: 'ttl', TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } };
    expect((await dynamo.send(new UpdateTimeToLiveCommand(on))).TimeToLiveSpecification).toEqual(
      on.TimeToLiveSpecification,
    );
    expect(await describe()).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
    await expect(dynamo.send(new UpdateTimeToLiveCommand(on))).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'TimeToLive is already enabled',
    });
    // DescribeTable does not carry it, as on DynamoDB.
    expect((await dynamo.send(new DescribeTableCommand({ TableName: 'ttl' }))).Table).not.toHaveProperty(
      'TimeToLiveDescription',
    );
    await dynamo.send(
      new UpdateTimeToLiveCommand({
        ...on,
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: false },
      }),
    );
    expect(await describe()).toEqual({ TimeToLiveStatus: 'DISABLED' });
    await expect(
      dynamo.send(new DescribeTimeToLiveCommand({ TableName: 'no-such-table' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('refuses to delete a table protected against deletion until UpdateTable turns the protection off', async () => {
    await dynamo.send(table('protected', true));
    await dynamo.send(table('plain'));
    const described = async (name: string) =>
      (await dynamo.send(new DescribeTableCommand({ TableName: name }))).Table?.DeletionProtectionEnabled;
    expect(await described('protected')).toBe(true);
    expect(await described('plain')).toBe(false);
    await expect(dynamo.send(new DeleteTableCommand({ TableName: 'protected' }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(/protected against deletion/),
    });
    const updated = await dynamo.send(
      new UpdateTableCommand({ TableName: 'protected', DeletionProtectionEnabled: false }),
    );
    expect(updated.TableDescription?.DeletionProtectionEnabled).toBe(false);
    await dynamo.send(new DeleteTableCommand({ TableName: 'protected' }));
    await dynamo.send(new DeleteTableCommand({ TableName: 'plain' }));
  });
});
