/**
 * The artifact end to end: the esbuild bundle (built here into a temporary folder, as `pnpm build` does),
 * configured only through its environment like on AWS or in the local stack, invoked with AWS's documented
 * sample Kinesis event and with the same shape carrying race messages. DynamoDB is dynalite (through the
 * SDK's own `AWS_ENDPOINT_URL_DYNAMODB`), the IoT data plane a local HTTP server.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type InvalidRecordReport, LAMBDA_BUNDLE, LAMBDA_ENV } from '@alleycat/schema';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleLambda } from '../scripts/bundle-lib.js';
import { DynamoStateStore } from '../src/dynamo-store.js';
import { type Dynalite, startDynalite, TEST_CREDENTIALS } from './helpers/dynalite.js';
import { json, raceMessage } from './helpers/events.js';
import { type IotServer, startIotServer } from './helpers/iot-server.js';

/** AWS Lambda developer guide, "Using Lambda with Kinesis": the sample event, verbatim. */
const AWS_SAMPLE_EVENT: KinesisStreamEvent = {
  Records: [
    {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: '1',
        sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
        data: 'SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==',
        approximateArrivalTimestamp: 1545084650.987,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: 'shardId-000000000006:49590338271490256608559692538361571095921575989136588898',
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
      awsRegion: 'us-east-2',
      eventSourceARN: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
    },
    {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: '1',
        sequenceNumber: '49590338271490256608559692540925702759324208523137515618',
        data: 'VGhpcyBpcyBvbmx5IGEgdGVzdC4=',
        approximateArrivalTimestamp: 1545084711.166,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: 'shardId-000000000006:49590338271490256608559692540925702759324208523137515618',
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
      awsRegion: 'us-east-2',
      eventSourceARN: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
    },
  ],
};

const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'alleycat-ingest',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:alleycat-ingest',
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/alleycat-ingest',
  logStreamName: '2026/11/27/[$LATEST]abcdef',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

const execFileAsync = promisify(execFile);

type Handler = (
  event: KinesisStreamEvent | ScheduledEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | Record<string, number>>;

let dynalite: Dynalite;
let iot: IotServer;
let work: string;
let bundleUrl: string;
const TABLE = 'e2e-alleycat-state';

/** Invokes the bundle in a fresh Node process (cold start) and returns its response and JSON log lines. */
async function invokeInChild(event: KinesisStreamEvent): Promise<{ result: unknown; lines: unknown[] }> {
  const eventPath = join(work, `event-${Date.now()}.json`);
  await writeFile(eventPath, JSON.stringify(event));
  const runner = fileURLToPath(new URL('./helpers/invoke-child.mjs', import.meta.url));
  const { stdout, stderr } = await execFileAsync(
    process.execPath,
    [runner, fileURLToPath(bundleUrl), eventPath],
    {
      env: process.env,
      timeout: 60_000,
    },
  );
  // Powertools writes INFO and EMF to stdout, WARN and ERROR to stderr; CloudWatch gets both.
  const lines = `${stdout}\n${stderr}`.split('\n');
  const resultLine = lines.find((l) => l.startsWith('RESULT '));
  return {
    result: resultLine === undefined ? undefined : JSON.parse(resultLine.slice('RESULT '.length)),
    lines: lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as unknown),
  };
}

beforeAll(async () => {
  [dynalite, iot] = await Promise.all([startDynalite(), startIotServer()]);
  await dynalite.createTable(TABLE);
  work = await mkdtemp(join(tmpdir(), 'alleycat-e2e-'));
  const { file } = await bundleLambda(join(work, 'lambda'));
  expect(file.endsWith(join('lambda', LAMBDA_BUNDLE.file))).toBe(true);
  bundleUrl = pathToFileURL(file).href;
  Object.assign(process.env, {
    [LAMBDA_ENV.tableName]: TABLE,
    [LAMBDA_ENV.iotDataEndpoint]: iot.endpoint,
    [LAMBDA_ENV.errorsDir]: join(work, 'errors'),
    [LAMBDA_ENV.raceTimeoutSeconds]: '60',
    AWS_REGION: 'us-east-2',
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([dynalite?.stop(), iot?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the Lambda bundle', () => {
  it('fails its cold start with an error naming a missing variable', async () => {
    const saved = process.env[LAMBDA_ENV.tableName];
    delete process.env[LAMBDA_ENV.tableName];
    try {
      await expect(import(`${bundleUrl}?missing-table`)).rejects.toMatchObject({
        name: 'ConfigError',
        variable: LAMBDA_ENV.tableName,
      });
    } finally {
      process.env[LAMBDA_ENV.tableName] = saved;
    }
  });

  it('takes AWS’s sample Kinesis event: both records are invalid, stored and skipped', async () => {
    const { result, lines } = await invokeInChild(AWS_SAMPLE_EVENT);
    expect(result).toEqual({ batchItemFailures: [] });

    const dir = join(work, 'errors', 'invalid');
    const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(2);
    for (const f of files) {
      const report = JSON.parse(await readFile(join(dir, f), 'utf8')) as InvalidRecordReport;
      expect(report.reason.code).toBe('not_json');
      expect(report.shardId).toBe('shardId-000000000006');
      expect(report.eventSourceARN).toBe('arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream');
    }

    // Structured logs carry the shard and sequence number; EMF carries the counts.
    const warnings = lines.filter(
      (l): l is Record<string, unknown> => (l as { message?: string }).message === 'invalid record',
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatchObject({
      level: 'WARN',
      service: 'alleycat-ingest',
      shardId: 'shardId-000000000006',
      sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
      function_request_id: context.awsRequestId,
    });
    const emf = lines.find((l) => (l as { _aws?: unknown })._aws !== undefined) as Record<string, unknown>;
    expect(emf).toBeDefined();
    expect(emf['InvalidRecords']).toBe(2);
    expect(emf['Records']).toBe(2);
  });

  it('scores race messages in the same event shape and publishes the leaderboard', async () => {
    const { handler } = (await import(bundleUrl)) as { handler: Handler };
    const template = AWS_SAMPLE_EVENT.Records[0]!;
    const now = Date.now();
    const records = [0, 1, 2, 2].map((second, i) => {
      const m = raceMessage(4242, 77, second, { clientId: 'racer-77' });
      const sequenceNumber = `4959033827149025660855969253836157109592157598913658${9000 + i}`;
      return {
        ...template,
        eventID: `shardId-000000000006:${sequenceNumber}`,
        kinesis: {
          ...template.kinesis,
          partitionKey: '77',
          sequenceNumber,
          data: Buffer.from(json(m)).toString('base64'),
          approximateArrivalTimestamp: (now - 500 + i * 10) / 1000,
        },
      };
    });
    const result = await handler({ Records: records }, context);
    expect(result).toEqual({ batchItemFailures: [] });

    const store = new DynamoStateStore(dynalite.client, TABLE);
    const board = await store.loadBoard(4242);
    expect(board!.racers.get(77)!.count).toBe(3);
    const published = iot.published.filter((p) => p.message.raceId === 4242);
    expect(published).toHaveLength(1);
    expect(published[0]!.topic).toBe('alleycat-subscribe/3');
    expect(published[0]!.message.standings[0]![0]).toBe(77);
  });

  it('an invocation that throws says so in an ERROR log with its shard and in the InvocationErrors metric', async () => {
    const template = AWS_SAMPLE_EVENT.Records[0]!;
    // Not from Lambda: a record without its data.
    const broken = { ...template, kinesis: { ...template.kinesis, data: undefined } };
    const { result, lines } = await invokeInChild({ Records: [broken] } as unknown as KinesisStreamEvent);
    expect(result).toMatchObject({ errorType: 'TypeError' });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'invocation failed; Lambda retries the whole batch',
        shardId: 'shardId-000000000006',
        firstSequenceNumber: template.kinesis.sequenceNumber,
      }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ InvocationErrors: 1 }));
  });

  it('takes EventBridge’s Scheduled Event (the sweep schedule): closes a race idle past the timeout', async () => {
    const { handler } = (await import(bundleUrl)) as { handler: Handler };
    const template = AWS_SAMPLE_EVENT.Records[0]!;
    // A race whose last record arrived 2 minutes ago (the timeout is 60 s) and whose `final` never came.
    const arrival = Date.now() - 120_000;
    const m = raceMessage(4343, 78, 0, { clientId: 'racer-78' });
    const sequenceNumber = '49590338271490256608559692538361571095921575989136589500';
    await handler(
      {
        Records: [
          {
            ...template,
            eventID: `shardId-000000000006:${sequenceNumber}`,
            kinesis: {
              ...template.kinesis,
              partitionKey: '78',
              sequenceNumber,
              data: Buffer.from(json(m)).toString('base64'),
              approximateArrivalTimestamp: arrival / 1000,
            },
          },
        ],
      },
      context,
    );
    // AWS's documented shape of a schedule rule's event.
    const scheduled: ScheduledEvent = {
      version: '0',
      id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time: '2026-11-27T20:00:00Z',
      region: 'us-east-2',
      resources: ['arn:aws:events:us-east-2:123456789012:rule/dev-alleycat-sweep'],
      detail: {},
    };
    const result = await handler(scheduled, context);
    expect(result).toMatchObject({ closed: expect.any(Number), failed: 0 });
    const store = new DynamoStateStore(dynalite.client, TABLE);
    expect((await store.loadBoard(4343))!.racers.get(78)!.closed).toBe('timeout');
    expect((await store.listOpen()).map((r) => r.raceId)).not.toContain(4343);
    const last = iot.published.filter((p) => p.message.raceId === 4343).at(-1);
    expect(last?.message.closed).toBe(true);
  });
});
