/**
 * Starts each part of the local stack as its own child process on 127.0.0.1, in dependency order, and stops
 * them all by process id — on `stopAll()`, on Ctrl-C/SIGTERM, and when this process exits. A part that cannot
 * bind its port fails the start with an error naming the part and the port.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { access, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LAMBDA_ENV } from '@alleycat/schema';
import {
  CreateTableCommand,
  DynamoDBClient,
  TagResourceCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  AddTagsToStreamCommand,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
} from '@aws-sdk/client-kinesis';
import { DEFAULT_PORTS } from './constants.js';
import { claimDataDir } from './data-dir-lock.js';
import { LocalStackError, PortInUseError } from './errors.js';
import { LOCAL_CREDENTIALS, localKinesisClient } from './kinesis/client.js';
import { assertPortsFree } from './net.js';
import { PART_CONFIG_ENV, type PartConfigs, type PartMessage, type PartName } from './parts/types.js';
import type { StackConfig } from './stack-config.js';

const RUN_PART = fileURLToPath(new URL('./parts/run-part.ts', import.meta.url));
/** tsx, by absolute URL, so parts start whatever the working directory. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export { DEFAULT_PORTS };

export type Ports = { [K in keyof typeof DEFAULT_PORTS]: number };

export interface RunningPart {
  name: PartName;
  pid: number;
  urls: Record<string, string>;
  child: ChildProcess;
  /** What it was started with, ports pinned to the ones it bound: a restart comes back on the same ports. */
  restartWith: { config: PartConfigs[PartName]; env: Record<string, string | undefined>; label: string };
}

export class PartStartError extends LocalStackError {
  readonly part: string;
  constructor(part: string, message: string, options?: ErrorOptions) {
    super(`${part}: ${message}`, options);
    this.name = 'PartStartError';
    this.part = part;
  }
}

/** Receives each line a part writes (stdout or stderr), labelled with the part; see `SupervisorOptions`. */
export type PartOutputHandler = (
  line: string,
  part: { name: PartName; label: string },
  stream: 'stdout' | 'stderr',
) => void;

/** A part that exited without being stopped (it crashed, or something killed it). */
export type PartExitHandler = (
  part: { name: PartName; label: string; pid: number },
  code: number | null,
  signal: NodeJS.Signals | null,
) => void;

/** How long after a part's exit it is reported, unless the stack is being stopped by then (Ctrl-C). */
const EXIT_REPORT_DELAY_MS = 1_000;

/** Default: say it on stderr, naming the part, so a crash is never silent. */
const reportPartExit: PartExitHandler = (part, code, signal) => {
  process.stderr.write(
    `\n[alleycat] ${part.label} (pid ${part.pid}) exited unexpectedly (${signal === null ? `code ${code}` : signal}); the other parts keep running — stop the stack and start it again\n`,
  );
};

export interface SupervisorOptions {
  /**
   * Where parts' output goes. Default: this process's stdout/stderr (inherited). With a handler, each line
   * is handed to it instead (e.g. `pnpm start` reads the Lambda's EMF metric lines and keeps the screen for
   * its leaderboard).
   */
  onOutput?: PartOutputHandler;
  /** Called when a ready part exits without `stop`/`stopAll` (default: a line on stderr). */
  onPartExit?: PartExitHandler;
}

export class Supervisor {
  private readonly parts: RunningPart[] = [];
  private readonly onExit = () => {
    for (const part of this.parts) part.child.kill('SIGKILL');
  };
  private readonly onOutput: PartOutputHandler | undefined;
  private readonly onPartExit: PartExitHandler;
  /** Children being stopped on purpose: their exit is not reported. */
  private readonly stopping = new WeakSet<ChildProcess>();
  /** `stopAll` has begun: parts ending now are part of the shutdown. */
  private shuttingDown = false;

  constructor(options: SupervisorOptions = {}) {
    this.onOutput = options.onOutput;
    this.onPartExit = options.onPartExit ?? reportPartExit;
    process.on('exit', this.onExit);
  }

  running(): readonly RunningPart[] {
    return this.parts;
  }

  /** Forks one part and resolves when it reports ready; rejects (and reaps it) when it fails. */
  async start<K extends PartName>(
    name: K,
    config: PartConfigs[K],
    env: Record<string, string | undefined> = {},
    label: string = name,
  ): Promise<RunningPart> {
    const child = fork(RUN_PART, [name], {
      execArgv: ['--import', TSX],
      env: {
        // The SDK's warning that its 2027 releases need Node ≥ 22 comes once from this process, not from
        // every part (the lockfile pins the SDK; README § Set-up). Set it to "false" to see them all.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...process.env,
        ...env,
        [PART_CONFIG_ENV]: JSON.stringify(config),
      },
      stdio: ['ignore', this.onOutput ? 'pipe' : 'inherit', this.onOutput ? 'pipe' : 'inherit', 'ipc'],
    });
    const onOutput = this.onOutput;
    if (onOutput) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const source = child[stream];
        if (source) {
          createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
            onOutput(line, { name, label }, stream),
          );
        }
      }
    }
    const urls = await new Promise<Record<string, string>>((resolve, reject) => {
      const onMessage = (message: PartMessage) => {
        if (message.type === 'ready') {
          cleanup();
          resolve(message.urls);
        } else if (message.type === 'error') {
          cleanup();
          const port = /port (\d+)/.exec(message.message)?.[1];
          reject(
            message.name === 'PortInUseError' && port
              ? new PortInUseError(label, Number(port))
              : new PartStartError(label, message.message),
          );
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new PartStartError(label, `exited with code ${code} before it was ready`));
      };
      const cleanup = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
    }).catch(async (error: unknown) => {
      await stopChild(child);
      throw error;
    });
    const part: RunningPart = {
      name,
      pid: child.pid!,
      urls,
      child,
      restartWith: { config: pinPorts(config, urls), env, label },
    };
    this.parts.push(part);
    child.once('exit', (code, signal) => {
      if (this.stopping.has(child)) return;
      const index = this.parts.indexOf(part);
      if (index >= 0) this.parts.splice(index, 1);
      // Ctrl-C in a terminal reaches every process of the group, and the launcher stops the stack right after:
      // a part gone with it is no crash. Reported only if the stack is still up a moment later.
      setTimeout(() => {
        if (!this.shuttingDown) this.onPartExit({ name, label, pid: part.pid }, code, signal);
      }, EXIT_REPORT_DELAY_MS).unref();
    });
    return part;
  }

  /** Stops one part and starts it again on the same ports, with the same configuration. */
  async restart(part: RunningPart): Promise<RunningPart> {
    await this.stop(part);
    const { config, env, label } = part.restartWith;
    return this.start(part.name, config as PartConfigs[PartName], env, label);
  }

  /** Asks one part for its counters (IPC). */
  stats(part: RunningPart, timeoutMs = 2_000): Promise<Record<string, number>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LocalStackError(`${part.name}: no stats within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onMessage = (message: PartMessage) => {
        if (message.type !== 'stats') return;
        clearTimeout(timer);
        part.child.off('message', onMessage);
        resolve(message.stats);
      };
      if (!part.child.connected) {
        clearTimeout(timer);
        return reject(new LocalStackError(`${part.name}: not running`));
      }
      part.child.on('message', onMessage);
      // With a callback a failed send rejects here instead of an 'error' event nobody listens to.
      part.child.send({ type: 'stats' }, (error) => {
        if (error === null) return;
        clearTimeout(timer);
        part.child.off('message', onMessage);
        reject(new LocalStackError(`${part.name}: ${error.message}`));
      });
    });
  }

  /** Stops one part (SIGTERM, then SIGKILL after a grace period). */
  async stop(part: RunningPart): Promise<void> {
    this.stopping.add(part.child);
    await stopChild(part.child);
    const index = this.parts.indexOf(part);
    if (index >= 0) this.parts.splice(index, 1);
  }

  /** The stack is being stopped (a launcher's Ctrl-C handler says so first): parts ending now are not crashes. */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  /** Stops every part, last started first. */
  async stopAll(): Promise<void> {
    this.shuttingDown = true;
    while (this.parts.length > 0) await this.stop(this.parts[this.parts.length - 1]!);
    process.off('exit', this.onExit);
  }
}

/** The config with port 0 replaced by the port the part actually bound (read back from its URLs). */
function pinPorts<C>(config: C, urls: Record<string, string>): C {
  const pinned = { ...config } as Record<string, unknown>;
  const portOf = (url: string | undefined) => (url === undefined ? undefined : Number(new URL(url).port));
  const ws = portOf(urls['ws']);
  const main = portOf(
    urls['mqtt'] ?? urls['kinesis'] ?? urls['kinesalite'] ?? urls['dynamodb'] ?? urls['iotData'],
  );
  if (typeof pinned['port'] === 'number' && main !== undefined) pinned['port'] = main;
  if (typeof pinned['wsPort'] === 'number' && ws !== undefined) pinned['wsPort'] = ws;
  return pinned as C;
}

async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface StackOptions {
  config: StackConfig;
  ports: Ports;
  /** Folder for the stack's files: errors bucket, DLQ, rule logs. */
  dataDir: string;
  /** The Lambda bundle (`apps/ingest-lambda/dist/lambda/index.mjs`). */
  bundle: string;
  limitsEnabled?: boolean;
  /**
   * Folder where kinesalite and dynalite keep their data (LevelDB, `kinesalite/` and `dynamodb/` in it), so a
   * part killed and restarted alone (`Supervisor.restart`) comes back with its streams, records and tables.
   * Default: both in memory. A folder that already holds a stream keeps the poller's checkpoints too.
   */
  persistDir?: string;
  /**
   * An MQTT broker already running (e.g. mosquitto, `mqtt://127.0.0.1:1883`): the stack then runs the rules
   * engine as a subscriber of it (`rules-bridge`) instead of its own aedes. See `src/rules/mqtt-bridge.ts` for
   * what that changes.
   */
  externalBroker?: string;
  /** Parts' output lines go here instead of this process's stdout/stderr. */
  onOutput?: PartOutputHandler;
  /** A part that exits without being stopped; default: a line on stderr. */
  onPartExit?: PartExitHandler;
  /**
   * Test/dev knob: fire every scheduled rule (EventBridge `schedule_expression`) every this many ms instead of
   * the synthesized rate (e.g. `rate(1 minute)`), which stays the production value. Default: the rule's rate.
   */
  scheduleIntervalMs?: number;
}

export interface RunningStack {
  supervisor: Supervisor;
  endpoints: { mqtt: string; ws?: string; kinesis: string; dynamodb: string; iotData: string };
  dirs: { errorsBucket: string; onFailure: string; ruleLogs: string };
  stop(): Promise<void>;
}

/** Brings the whole stack up from the synthesized config; on any failure stops what was started. */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  const { config, ports } = options;
  const supervisor = new Supervisor({
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
    ...(options.onPartExit ? { onPartExit: options.onPartExit } : {}),
  });
  // Named as the supervisor names its parts (the WebSocket listener on its own), before anything is touched.
  await assertPortsFree([
    ['kinesalite', ports.kinesalite],
    ['Kinesis (limits layer)', ports.kinesis],
    ['DynamoDB (dynalite)', ports.dynamodb],
    ...(options.externalBroker === undefined
      ? ([
          ['MQTT broker', ports.mqtt],
          ['MQTT broker (WebSocket)', ports.mqttWs],
        ] as const)
      : []),
    ['IoT data plane', ports.iotData],
  ]);
  if (options.scheduleIntervalMs !== undefined && !(options.scheduleIntervalMs > 0)) {
    throw new LocalStackError(
      `scheduleIntervalMs must be a positive number of ms, got ${options.scheduleIntervalMs}`,
    );
  }
  if (config.eventSourceMappings.length > 0 || config.schedules.length > 0) {
    await access(options.bundle).catch(() => {
      throw new LocalStackError(
        `the Lambda bundle ${options.bundle} does not exist: run \`pnpm --filter "@alleycat/ingest-lambda..." build\` first`,
      );
    });
  }
  const releaseDataDir = await claimDataDir(options.dataDir);
  try {
    const dirs = {
      errorsBucket: path.join(options.dataDir, 'errors-bucket'),
      onFailure: path.join(options.dataDir, 'on-failure'),
      ruleLogs: path.join(options.dataDir, 'rule-logs'),
    };
    await Promise.all(Object.values(dirs).map((d) => mkdir(d, { recursive: true })));
    const persist =
      options.persistDir === undefined
        ? undefined
        : {
            kinesalite: path.join(options.persistDir, 'kinesalite'),
            dynamodb: path.join(options.persistDir, 'dynamodb'),
          };
    // kinesalite in memory starts empty: positions in an earlier run's streams mean nothing now (restarting a
    // single part, Supervisor.restart, keeps them). Persisted streams keep their positions.
    const persisted =
      persist !== undefined &&
      (await access(persist.kinesalite).then(
        () => true,
        () => false,
      ));
    if (!persisted) await rm(path.join(options.dataDir, 'checkpoints'), { recursive: true, force: true });
    if (persist !== undefined) {
      await mkdir(persist.kinesalite, { recursive: true });
      await mkdir(persist.dynamodb, { recursive: true });
    }
    // The emulators build ARNs (DescribeStream, DescribeTable) from these: the stack's region and account,
    // so what the AWS CLI shows matches the ARNs in the Lambda's events.
    const emulatorEnv = {
      AWS_REGION: config.region,
      AWS_DEFAULT_REGION: config.region,
      AWS_ACCOUNT_ID: config.accountId,
    };
    const kinesalite = await supervisor.start(
      'kinesalite',
      { port: ports.kinesalite, ...(persist ? { path: persist.kinesalite } : {}) },
      emulatorEnv,
      'kinesalite',
    );
    const kinesis = await supervisor.start(
      'kinesis',
      {
        port: ports.kinesis,
        upstream: kinesalite.urls['kinesalite']!,
        limitsEnabled: options.limitsEnabled ?? true,
        consumers: config.streamConsumers,
        region: config.region,
        accountId: config.accountId,
      },
      {},
      'Kinesis (limits layer)',
    );
    const dynamodb = await supervisor.start(
      'dynamodb',
      { port: ports.dynamodb, ...(persist ? { path: persist.dynamodb } : {}) },
      emulatorEnv,
      'DynamoDB (dynalite)',
    );
    const kinesisUrl = kinesis.urls['kinesis']!;
    const dynamoUrl = dynamodb.urls['dynamodb']!;
    await createResources(config, kinesisUrl, dynamoUrl);
    const ruleSettings = {
      rules: config.topicRules,
      kinesisEndpoint: kinesisUrl,
      errorsDir: dirs.errorsBucket,
      ruleLogsDir: dirs.ruleLogs,
    };
    const broker =
      options.externalBroker === undefined
        ? await supervisor.start(
            'broker',
            { port: ports.mqtt, wsPort: ports.mqttWs, ...ruleSettings },
            {},
            'MQTT broker',
          )
        : await supervisor
            .start('rules-bridge', { brokerUrl: options.externalBroker, ...ruleSettings }, {}, 'rules bridge')
            .then((bridge) => ({
              ...bridge,
              urls: { mqtt: options.externalBroker! } as Record<string, string>,
            }));
    const iotData = await supervisor.start(
      'iot-data',
      { port: ports.iotData, brokerUrl: broker.urls['mqtt']! },
      {},
      'IoT data plane',
    );
    const lambdaEnv = {
      iotDataUrl: iotData.urls['iotData']!,
      errorsDir: dirs.errorsBucket,
      dynamoUrl,
      region: config.region,
    };
    for (const mapping of config.eventSourceMappings) {
      const fn = config.functions.find((f) => f.name === mapping.functionName)!;
      const [bundle, exportName] = handlerOf(fn, options.bundle);
      const env = lambdaEnvironment(fn, lambdaEnv);
      await supervisor.start(
        'event-source-mapping',
        {
          kinesisEndpoint: kinesisUrl,
          mapping: {
            ...mapping,
            onFailureDir: path.join(dirs.onFailure, mapping.onFailureDestination ?? 'discarded'),
          },
          function: {
            functionName: fn.name,
            functionArn: fn.arn,
            memoryMb: fn.memoryMb,
            timeoutSeconds: fn.timeoutSeconds,
          },
          source: { streamArn: mapping.streamArn, region: config.region, roleArn: fn.roleArn },
          bundle,
          exportName,
          checkpointDir: path.join(options.dataDir, 'checkpoints', `${fn.name}-${mapping.streamName}`),
        },
        env,
        `event source mapping ${mapping.streamName} → ${fn.name}`,
      );
    }
    // Scheduled rules last: their first fire (one interval after start) finds every other part up.
    for (const schedule of config.schedules) {
      const fn = config.functions.find((f) => f.name === schedule.functionName)!;
      const [bundle, exportName] = handlerOf(fn, options.bundle);
      await supervisor.start(
        'scheduler',
        {
          schedule: {
            ruleName: schedule.ruleName,
            ruleArn: schedule.ruleArn,
            intervalMs: options.scheduleIntervalMs ?? schedule.intervalMs,
            ...(schedule.input === undefined ? {} : { input: schedule.input }),
          },
          function: {
            functionName: fn.name,
            functionArn: fn.arn,
            memoryMb: fn.memoryMb,
            timeoutSeconds: fn.timeoutSeconds,
          },
          region: config.region,
          account: config.accountId,
          bundle,
          exportName,
        },
        lambdaEnvironment(fn, lambdaEnv),
        `schedule ${schedule.ruleName} (${schedule.expression}) → ${fn.name}`,
      );
    }
    const endpoints: RunningStack['endpoints'] = {
      mqtt: broker.urls['mqtt']!,
      kinesis: kinesisUrl,
      dynamodb: dynamoUrl,
      iotData: iotData.urls['iotData']!,
    };
    if (broker.urls['ws']) endpoints.ws = broker.urls['ws'];
    const stop = async () => {
      await supervisor.stopAll();
      await releaseDataDir();
    };
    return { supervisor, endpoints, dirs, stop };
  } catch (error) {
    await supervisor.stopAll();
    await releaseDataDir();
    throw error;
  }
}

/**
 * The environment a function runs with locally, whichever source invokes it (event source mapping or
 * scheduled rule): as synthesized, plus the local endpoints, credentials and Lambda's reserved variables.
 */
function lambdaEnvironment(
  fn: StackConfig['functions'][number],
  local: { iotDataUrl: string; errorsDir: string; dynamoUrl: string; region: string },
): Record<string, string | undefined> {
  return {
    ...fn.environment,
    [LAMBDA_ENV.iotDataEndpoint]: local.iotDataUrl,
    [LAMBDA_ENV.errorsBucket]: undefined,
    [LAMBDA_ENV.errorsDir]: local.errorsDir,
    AWS_ENDPOINT_URL_DYNAMODB: local.dynamoUrl,
    AWS_REGION: local.region,
    AWS_DEFAULT_REGION: local.region,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  };
}

/** `index.handler` → [`<bundle dir>/index.mjs`, `handler`]. */
function handlerOf(fn: StackConfig['functions'][number], bundle: string): [string, string] {
  const [file, exportName] = splitHandler(fn.handler);
  return [path.join(path.dirname(bundle), `${file}${path.extname(bundle)}`), exportName];
}

function splitHandler(handler: string): [string, string] {
  const dot = handler.lastIndexOf('.');
  return dot < 0 ? ['index', handler] : [handler.slice(0, dot), handler.slice(dot + 1)];
}

/** Streams and tables of the stack, created as synthesized (so local and deployed shapes cannot drift). */
export async function createResources(
  config: StackConfig,
  kinesisUrl: string,
  dynamoUrl: string,
): Promise<void> {
  const kinesis = localKinesisClient(kinesisUrl);
  const http = await import('node:http');
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  const dynamo = new DynamoDBClient({
    endpoint: dynamoUrl,
    region: config.region,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true }) }),
  });
  try {
    for (const stream of config.streams) {
      await kinesis
        .send(new CreateStreamCommand({ StreamName: stream.name, ShardCount: stream.shardCount }))
        .catch((error: Error) => {
          if (error.name !== 'ResourceInUseException') throw error; // a persisted stream from an earlier run
        });
      for (let i = 0; ; i++) {
        const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream.name }));
        if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
        if (i > 200) throw new LocalStackError(`stream ${stream.name} did not become ACTIVE`);
        await new Promise((r) => setTimeout(r, 25));
      }
      // Tags as Terraform applies them (idempotent: a persisted stream gets the same ones again).
      const tags = Object.entries(stream.tags);
      for (let i = 0; i < tags.length; i += 10) {
        await kinesis.send(
          new AddTagsToStreamCommand({
            StreamName: stream.name,
            Tags: Object.fromEntries(tags.slice(i, i + 10)),
          }),
        );
      }
    }
    for (const table of config.tables) {
      await dynamo
        .send(
          new CreateTableCommand({
            TableName: table.name,
            AttributeDefinitions: table.attributes.map((a) => ({
              AttributeName: a.name,
              AttributeType: a.type,
            })),
            KeySchema: [
              { AttributeName: table.hashKey, KeyType: 'HASH' },
              ...(table.rangeKey ? [{ AttributeName: table.rangeKey, KeyType: 'RANGE' as const }] : []),
            ],
            BillingMode: 'PAY_PER_REQUEST',
            DeletionProtectionEnabled: table.deletionProtection,
          }),
        )
        .catch((error: Error) => {
          if (error.name !== 'ResourceInUseException') throw error;
        });
      if (Object.keys(table.tags).length > 0) {
        await dynamo.send(
          new TagResourceCommand({
            ResourceArn: `arn:aws:dynamodb:${config.region}:${config.accountId}:table/${table.name}`,
            Tags: Object.entries(table.tags).map(([Key, Value]) => ({ Key, Value })),
          }),
        );
      }
      if (table.ttlAttribute) {
        await dynamo
          .send(
            new UpdateTimeToLiveCommand({
              TableName: table.name,
              TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
            }),
          )
          .catch((error: Error) => {
            // A persisted table from an earlier run has it already.
            if (!/already enabled/.test(error.message)) throw error;
          });
      }
    }
  } finally {
    kinesis.destroy();
    dynamo.destroy();
  }
}
