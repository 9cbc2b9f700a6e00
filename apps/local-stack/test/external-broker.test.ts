import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_RULE_SQL, INGEST_TOPIC } from '@alleycat/schema';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { startRulesBridge } from '../src/rules/mqtt-bridge.js';
import { RuleEngine } from '../src/rules/rule-engine.js';
import { createStream, waitFor } from './helpers.js';

let mosquitto: ChildProcess;
let brokerUrl: string;
let kinesalite: RunningKinesalite;
let dir: string;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-mosquitto-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  mosquitto = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' });
  brokerUrl = `mqtt://127.0.0.1:${port}`;
  await waitFor(async () => {
    const probe = await mqtt
      .connectAsync(brokerUrl, { reconnectPeriod: 0, connectTimeout: 500 })
      .catch(() => undefined);
    await probe?.endAsync(true);
    return probe ? true : undefined;
  });
  kinesalite = await startKinesalite();
  await createStream(localKinesisClient(kinesalite.url), 's', 1);
});

afterAll(async () => {
  mosquitto.kill('SIGTERM');
  await kinesalite.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rules engine on an external broker (mosquitto)', () => {
  it('delivers QoS 1 messages into Kinesis; clientid() is Undefined, so no clientId field is added', async () => {
    const kinesis = localKinesisClient(kinesalite.url, { maxAttempts: 1 });
    const rules = new RuleEngine({
      rules: [
        { name: 'ingest', sql: INGEST_RULE_SQL, kinesis: [{ streamName: 's', partitionKey: '${racerId}' }] },
      ],
      kinesis,
      errorsDir: dir,
    });
    const bridge = await startRulesBridge({ brokerUrl, rules, filters: rules.filters(), log: () => {} });
    const bike = await mqtt.connectAsync(brokerUrl, { clientId: 'racer-21', protocolVersion: 5 });
    try {
      await bike.publishAsync(INGEST_TOPIC, JSON.stringify({ racerId: 21, second: 1 }), { qos: 1 });
      await bike.publishAsync(INGEST_TOPIC, JSON.stringify({ racerId: 21, second: 2 }), { qos: 1 });
      await waitFor(() => rules.stats().delivered === 2 || undefined);
      const { ShardIterator } = await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: 's',
          ShardId: 'shardId-000000000000',
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const records = (await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records ?? [];
      expect(records.map((r) => JSON.parse(Buffer.from(r.Data!).toString()))).toEqual([
        { racerId: 21, second: 1 },
        { racerId: 21, second: 2 },
      ]);
      expect(records[0]!.PartitionKey).toBe('21');
    } finally {
      await bike.endAsync(true);
      await bridge.close();
      kinesis.destroy();
    }
  });
});
