/**
 * Entry point of one part's child process: `node --import tsx src/parts/run-part.ts <part>`, config as JSON in
 * ALLEYCAT_PART_CONFIG. Tells the supervisor `ready` (with its URLs) or `error` over IPC, and shuts down on
 * SIGTERM/SIGINT — or when the supervisor disappears (IPC disconnect), so no part outlives it.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
// @ts-expect-error dynalite ships no types
import dynalite from 'dynalite';
import { startBroker } from '../broker/broker.js';
import { IOT_DATA_PLANE_CLIENT_ID } from '../broker/constants.js';
import { PortInUseError } from '../errors.js';
import { EventSourceMappingPoller } from '../esm/poller.js';
import { startIotDataPlane } from '../iot/data-plane.js';
import { localKinesisClient } from '../kinesis/client.js';
import { startKinesalite } from '../kinesis/kinesalite.js';
import { KinesisLimitsProxy } from '../kinesis/limits-proxy.js';
import { LOCALHOST, listenOn } from '../net.js';
import { startRulesBridge } from '../rules/mqtt-bridge.js';
import { RuleEngine } from '../rules/rule-engine.js';
import { RuleScheduler } from '../schedule/scheduler.js';
import { startCpuProfile } from './cpu-profile.js';
import { PART_CONFIG_ENV, type PartConfigs, type PartMessage, type PartName } from './types.js';

type Running = { urls: Record<string, string>; close(): Promise<void>; stats?(): Record<string, number> };

const starters: { [K in PartName]: (config: PartConfigs[K]) => Promise<Running> } = {
  async kinesalite(config) {
    const running = await startKinesalite({
      port: config.port,
      ...(config.path ? { path: config.path } : {}),
    });
    return { urls: { kinesalite: running.url }, close: running.close };
  },
  async kinesis(config) {
    const proxy = new KinesisLimitsProxy({
      upstream: config.upstream,
      enabled: config.limitsEnabled,
      consumers: config.consumers ?? [],
      ...(config.region ? { region: config.region } : {}),
      ...(config.accountId ? { accountId: config.accountId } : {}),
    });
    let url: string;
    try {
      url = await proxy.listen(config.port);
    } catch (error) {
      throw (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? new PortInUseError('Kinesis (limits layer)', config.port)
        : error;
    }
    return { urls: { kinesis: url }, close: () => proxy.close(), stats: () => ({ ...proxy.stats() }) };
  },
  async dynamodb(config) {
    const server = (dynalite as (o: object) => http.Server)({
      createTableMs: 0,
      deleteTableMs: 0,
      updateTableMs: 0,
      path: config.path,
    });
    const port = await listenOn(server, 'DynamoDB (dynalite)', config.port);
    return {
      urls: { dynamodb: `http://${LOCALHOST}:${(server.address() as AddressInfo).port || port}` },
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  },
  async broker(config) {
    const kinesis = localKinesisClient(config.kinesisEndpoint, { maxAttempts: 1 });
    const rules = new RuleEngine({
      rules: config.rules,
      kinesis,
      errorsDir: config.errorsDir,
      ruleLogsDir: config.ruleLogsDir,
    });
    const broker = await startBroker({ port: config.port, wsPort: config.wsPort, rules });
    const urls: Record<string, string> = { mqtt: broker.mqttUrl };
    if (broker.wsUrl) urls['ws'] = broker.wsUrl;
    return {
      urls,
      close: async () => {
        await broker.close();
        kinesis.destroy();
      },
      stats: () => ({ ...rules.stats(), ...broker.stats(), ...prefixed('mqtt5', broker.mqtt5Stats()) }),
    };
  },
  async 'rules-bridge'(config) {
    const kinesis = localKinesisClient(config.kinesisEndpoint, { maxAttempts: 1 });
    const rules = new RuleEngine({
      rules: config.rules,
      kinesis,
      errorsDir: config.errorsDir,
      ruleLogsDir: config.ruleLogsDir,
    });
    const bridge = await startRulesBridge({ brokerUrl: config.brokerUrl, rules, filters: rules.filters() });
    return {
      urls: {},
      close: async () => {
        await bridge.close();
        kinesis.destroy();
      },
      stats: () => ({ ...rules.stats() }),
    };
  },
  async 'iot-data'(config) {
    const plane = await startIotDataPlane({
      brokerUrl: config.brokerUrl,
      port: config.port,
      clientId: IOT_DATA_PLANE_CLIENT_ID,
    });
    return { urls: { iotData: plane.url }, close: plane.close, stats: plane.stats };
  },
  async 'event-source-mapping'(config) {
    const kinesis = localKinesisClient(config.kinesisEndpoint);
    const poller = new EventSourceMappingPoller({
      mapping: {
        ...config.mapping,
        ...(config.mapping.startingPositionTimestamp
          ? { startingPositionTimestamp: new Date(config.mapping.startingPositionTimestamp) }
          : {}),
      },
      kinesis,
      kinesisEndpoint: config.kinesisEndpoint,
      handler: { bundle: config.bundle, exportName: config.exportName },
      function: config.function,
      source: config.source,
      checkpointDir: config.checkpointDir,
    });
    await poller.start();
    return {
      urls: {},
      close: async () => {
        await poller.stop();
        kinesis.destroy();
      },
      stats: () => ({ ...poller.stats() }),
    };
  },
  async scheduler(config) {
    const scheduler = new RuleScheduler({
      schedule: config.schedule,
      handler: { bundle: config.bundle, exportName: config.exportName },
      function: config.function,
      region: config.region,
      account: config.account,
    });
    await scheduler.start();
    return { urls: {}, close: () => scheduler.stop(), stats: () => ({ ...scheduler.stats() }) };
  },
};

/** `{connections: 2}` → `{mqtt5Connections: 2}`: one flat stats object per part. */
function prefixed(prefix: string, stats: object): Record<string, number> {
  return Object.fromEntries(
    Object.entries(stats).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v as number]),
  );
}

const send = (message: PartMessage) => process.send?.(message);

async function main(): Promise<void> {
  const part = process.argv[2] as PartName;
  const starter = starters[part] as ((config: unknown) => Promise<Running>) | undefined;
  if (starter === undefined)
    throw new Error(`unknown part ${JSON.stringify(part)} (one of ${Object.keys(starters).join(', ')})`);
  const writeProfile = await startCpuProfile(part);
  const running = await starter(JSON.parse(process.env[PART_CONFIG_ENV] ?? '{}'));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.close().catch(() => {});
    await writeProfile().catch((error: unknown) =>
      process.stderr.write(`cpu profile: ${String(error)}
`),
    );
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'stats' && running.stats) send({ type: 'stats', stats: running.stats() });
  });
  send({ type: 'ready', urls: running.urls });
}

main().catch((error: Error) => {
  send({ type: 'error', name: error.name, message: error.message });
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100);
});
