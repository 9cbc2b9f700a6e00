import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_TOPIC } from '@alleycat/schema';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTagsOfResourceCommand,
} from '@aws-sdk/client-dynamodb';
import { ListTagsForStreamCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localKinesisClient } from '../src/kinesis/client.js';
import { loadStackConfig } from '../src/stack-config.js';
import { type RunningStack, Supervisor, startStack } from '../src/supervisor.js';
import { alive, FIXTURE, FREE, mosquittoPub, waitFor } from './helpers.js';

let dir: string;
let stack: RunningStack | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-stack-'));
  // A stand-in bundle with the deployed handler string (index.handler): it records what it is given.
  await writeFile(
    path.join(dir, 'index.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function handler(event, context) {
  appendFileSync(${JSON.stringify(path.join(dir, 'invocations.jsonl'))}, JSON.stringify({
    records: event.Records.map((r) => ({ data: Buffer.from(r.kinesis.data, 'base64').toString(), key: r.kinesis.partitionKey, arn: r.eventSourceARN })),
    fn: context.functionName,
    env: { table: process.env.ALLEYCAT_TABLE_NAME, iot: process.env.ALLEYCAT_IOT_DATA_ENDPOINT, errorsDir: process.env.ALLEYCAT_ERRORS_DIR, bucket: process.env.ALLEYCAT_ERRORS_BUCKET ?? null, dynamo: process.env.AWS_ENDPOINT_URL_DYNAMODB },
  }) + '\\n');
  return { batchItemFailures: [] };
}`,
  );
});

afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('supervisor', () => {
  it('runs the synthesized stack as child processes: mosquitto_pub → rule → Kinesis → mapping → handler', async () => {
    const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
    stack = await startStack({
      config,
      ports: FREE,
      dataDir: path.join(dir, 'data'),
      bundle: path.join(dir, 'index.mjs'),
    });
    const parts = stack.supervisor.running();
    expect(parts.map((p) => p.name)).toEqual([
      'kinesalite',
      'kinesis',
      'dynamodb',
      'broker',
      'iot-data',
      'event-source-mapping',
      'scheduler',
    ]);
    expect(new Set(parts.map((p) => p.pid)).size).toBe(7);
    // The synthesized tags (the provider's default_tags) are on the stream and the table, as on AWS.
    const kinesisClient = localKinesisClient(stack.endpoints.kinesis);
    const dynamo = new DynamoDBClient({
      endpoint: stack.endpoints.dynamodb,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    try {
      const streamTags = await kinesisClient.send(
        new ListTagsForStreamCommand({ StreamName: 'dev-alleycat' }),
      );
      expect(streamTags.Tags).toEqual([
        { Key: 'Application', Value: 'alleycat' },
        { Key: 'Environment', Value: 'dev' },
      ]);
      const tableTags = await dynamo.send(
        new ListTagsOfResourceCommand({
          ResourceArn: 'arn:aws:dynamodb:eu-west-1:000000000000:table/dev-alleycat-state',
        }),
      );
      expect(tableTags.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'Application', Value: 'alleycat' },
          { Key: 'Environment', Value: 'dev' },
        ]),
      );
      // And the table's TTL and deletion protection, as synthesized.
      const ttl = await dynamo.send(new DescribeTimeToLiveCommand({ TableName: 'dev-alleycat-state' }));
      expect(ttl.TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
      const described = await dynamo.send(new DescribeTableCommand({ TableName: 'dev-alleycat-state' }));
      expect(described.Table?.DeletionProtectionEnabled).toBe(true);
    } finally {
      kinesisClient.destroy();
      dynamo.destroy();
    }
    const mqttPort = new URL(stack.endpoints.mqtt).port;
    await mosquittoPub(mqttPort, 'racer-12', INGEST_TOPIC, '{"racerId":12,"second":1}');
    const log = path.join(dir, 'invocations.jsonl');
    const lines = await waitFor(async () => {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text.trim()
        ? text
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : undefined;
    }, 15_000);
    expect(lines[0]).toEqual({
      records: [
        {
          data: '{"racerId":12,"second":1,"clientId":"racer-12"}',
          key: '12',
          arn: 'arn:aws:kinesis:eu-west-1:000000000000:stream/dev-alleycat',
        },
      ],
      fn: 'dev-alleycat-ingest',
      env: {
        table: 'dev-alleycat-state',
        iot: stack.endpoints.iotData,
        errorsDir: stack.dirs.errorsBucket,
        bucket: null,
        dynamo: stack.endpoints.dynamodb,
      },
    });
    const broker = parts.find((p) => p.name === 'broker')!;
    expect(await stack.supervisor.stats(broker)).toMatchObject({ delivered: 1 });

    // Kinesis goes away alone: the rule's error action takes the message; back on the same port, the
    // rule and the event source mapping carry on.
    const kinesisPart = parts.find((p) => p.name === 'kinesis')!;
    await stack.supervisor.stop(kinesisPart);
    await mosquittoPub(mqttPort, 'racer-13', INGEST_TOPIC, '{"racerId":13}');
    const errorFiles = await readdir(stack.dirs.errorsBucket, { recursive: true });
    expect(errorFiles.filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const restarted = await stack.supervisor.restart(kinesisPart);
    expect(restarted.urls['kinesis']).toBe(stack.endpoints.kinesis);
    await mosquittoPub(mqttPort, 'racer-14', INGEST_TOPIC, '{"racerId":14}');
    await waitFor(
      async () => ((await readFile(log, 'utf8')).includes('racer-14') ? true : undefined),
      15_000,
    );
    expect(await stack.supervisor.stats(broker)).toMatchObject({ delivered: 2, errorActions: 1 });

    const pids = stack.supervisor.running().map((p) => p.pid);
    expect(pids).toHaveLength(7);
    await stack.stop();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    stack = undefined;
    expect(await readdir(path.join(dir, 'data'))).toEqual(
      expect.arrayContaining(['errors-bucket', 'on-failure', 'rule-logs']),
    );
  }, 180_000);

  it('says which command builds a missing Lambda bundle, before starting anything', async () => {
    const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
    await expect(
      startStack({
        config,
        ports: FREE,
        dataDir: path.join(dir, 'nobundle'),
        bundle: path.join(dir, 'missing', 'index.mjs'),
      }),
    ).rejects.toThrow(/does not exist: run `pnpm --filter "@alleycat\/ingest-lambda\.\.\." build` first/);
  });

  it("refuses a busy port before it touches the data folder (a running stack's checkpoints stay)", async () => {
    const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const dataDir = path.join(dir, 'busy');
    const checkpoint = path.join(dataDir, 'checkpoints', 'mapping', 'shardId-000000000000.json');
    await mkdir(path.dirname(checkpoint), { recursive: true });
    await writeFile(checkpoint, '{"sequenceNumber":"1"}');
    try {
      await expect(
        startStack({
          config,
          ports: { ...FREE, iotData: port },
          dataDir,
          bundle: path.join(dir, 'none.mjs'),
        }),
      ).rejects.toThrow(`IoT data plane: port ${port} on 127.0.0.1 is already in use`);
      expect(await readFile(checkpoint, 'utf8')).toBe('{"sequenceNumber":"1"}');
      expect(await readdir(dataDir)).toEqual(['checkpoints']);
    } finally {
      blocker.close();
    }
  });

  it('reports a part that dies without being stopped, and none once the stack is being stopped', async () => {
    const exits: Array<{ name: string; signal: string | null }> = [];
    const supervisor = new Supervisor({
      onPartExit: (part, _code, signal) => exits.push({ name: part.name, signal }),
    });
    try {
      const doomed = await supervisor.start('kinesalite', { port: 0 }, {}, 'kinesalite');
      const kept = await supervisor.start('kinesalite', { port: 0 }, {}, 'kinesalite (2)');
      const interrupted = await supervisor.start('kinesalite', { port: 0 }, {}, 'kinesalite (3)');
      process.kill(doomed.pid, 'SIGKILL');
      await waitFor(() => exits.length === 1 || undefined);
      expect(exits).toEqual([{ name: 'kinesalite', signal: 'SIGKILL' }]);
      expect(supervisor.running()).toEqual([kept, interrupted]);
      // A plain `kill` (SIGTERM: the part ends cleanly) is reported too, and the part leaves the list; asking it
      // for counters then fails as a rejection, not as an unheard 'error' event.
      process.kill(interrupted.pid, 'SIGTERM');
      await waitFor(() => exits.length === 2 || undefined);
      expect(exits[1]).toMatchObject({ name: 'kinesalite' });
      expect(supervisor.running()).toEqual([kept]);
      await expect(supervisor.stats(interrupted)).rejects.toThrow(/not running/);
      // Once the stack is being stopped (the launcher's Ctrl-C), parts ending are not reported.
      supervisor.beginShutdown();
      process.kill(kept.pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 1_500));
      expect(exits).toHaveLength(2);
    } finally {
      await supervisor.stopAll();
    }
  });

  it('names the part and the port when a port is taken, and leaves no process behind', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    const supervisor = new Supervisor();
    try {
      await expect(
        supervisor.start(
          'kinesis',
          { port, upstream: 'http://127.0.0.1:1', limitsEnabled: true },
          {},
          'Kinesis (limits layer)',
        ),
      ).rejects.toThrow(`Kinesis (limits layer): port ${port} on 127.0.0.1 is already in use`);
      expect(supervisor.running()).toHaveLength(0);
    } finally {
      await supervisor.stopAll();
      blocker.close();
    }
  });
});
