/**
 * `alleycat`: simulate a field of riders, ride one bike live, or plan Kinesis capacity.
 * Errors the user can fix (bad flags, unreachable endpoints) end in one line on stderr and a non-zero exit:
 * 2 for usage, 1 for failures, 3 when the run finished but some messages were not delivered (they are in
 * the undelivered file).
 */
import { accessSync, constants as fsConstants, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  describeParseError,
  INGEST_TOPIC,
  MAX_ID,
  output,
  PARTITION_KEY_STRATEGIES,
  type PartitionKeyStrategy,
  Prng,
  planCapacity,
  type RaceMessage,
  STREAM_NAME,
  validateRaceMessage,
} from '@alleycat/schema';
import { Bike, localEndpointFromUrl } from './bike.js';
import {
  AGGREGATE_MIN_BYTES,
  AGGREGATION_DEFAULT_TARGET_BYTES,
  FINAL_STANDING_WAIT_MS,
  LOCAL_KINESIS_ENDPOINT_EXAMPLE,
  LOCAL_MQTT_URL_EXAMPLE,
  MQTT_MAX_RIDERS_PER_PROCESS,
  PRODUCER_DEFAULTS,
  SIMULATION_DEFAULTS,
} from './constants.js';
import {
  BikeClientError,
  EndpointUnreachableError,
  KinesisRequestError,
  TlsMaterialError,
  UsageError,
} from './errors.js';
import { createKinesisClient, effectiveKinesisEndpoint } from './kinesis-client.js';
import { describeStream, ensureStream, listShardRanges, streamNames } from './kinesis-stream.js';
import { createRacer, nextMessage } from './race.js';
import { RaceClock } from './race-clock.js';
import { Simulation } from './simulator.js';
import { KinesisSink, MqttSink } from './sinks.js';
import type { BikeEndpoint, SimulationSummary, Sink, UndeliveredMessage } from './types.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, undelivered: 3 } as const;

const HELP = `alleycat — Alleycat's bike client

Usage:
  alleycat simulate [--riders 1000] [--seconds 300] [--classes 6] [--via kinesis|mqtt] [--aggregate]
                    [--speedup 1] [--seed 1] [--json] [options]
  alleycat ride --racer 7 --class 2 [--seconds 300] [--name "Ada K."] [--race-id N] [--qos 0|1] [options]
  alleycat capacity --riders 40000 [--pattern single|batched] [--messages-per-record 5]
                    [--message-bytes 170] [--utilisation 0.8] [--json]

Kinesis (simulate --via kinesis):
  --stream NAME              stream name (default ${STREAM_NAME}; the infra names it {env}-${STREAM_NAME})
  --kinesis-endpoint URL     e.g. ${LOCAL_KINESIS_ENDPOINT_EXAMPLE} (or AWS_ENDPOINT_URL_KINESIS)
  --region REGION            else the standard AWS chain (AWS_REGION, profile)
  --create-stream            create the stream if missing (local use) with --shards N (default 4)
  --partition-key STRATEGY   ${PARTITION_KEY_STRATEGIES.join('|')} (default racer)
  --aggregate                KPL-aggregate messages into records of --aggregate-bytes (default ${AGGREGATION_DEFAULT_TARGET_BYTES})
  --concurrency N            PutRecords in flight (default ${PRODUCER_DEFAULTS.maxConcurrency})
  --linger-ms MS             longest wait to fill a batch (default ${PRODUCER_DEFAULTS.lingerMs})
  --max-attempts N           attempts per record before it is reported unsent (default ${PRODUCER_DEFAULTS.maxAttempts})

MQTT (simulate --via mqtt, ride):
  --mqtt-url URL             local broker, plain TCP (default ${LOCAL_MQTT_URL_EXAMPLE})
  --iot-endpoint HOST        AWS IoT Core data endpoint (mutual TLS) with --cert, --key [--ca] [--iot-port 8883]
  --qos 0|1                  default 0 (as the seed); 1 = at least once, with an offline queue
  --first-racer N            first racerId (default 1): split a large field over several processes

Output:
  --json                     a machine-readable summary on stdout (no progress display)
  --undelivered-file PATH    where undelivered messages go (NDJSON; default ./alleycat-undelivered-<time>.ndjson)

Credentials come from the standard AWS chain (environment, profile, SSO, instance role).
Against a local endpoint (127.0.0.1/localhost) without credentials, dummy ones are used.
`;

type Flags = Record<string, string | boolean | undefined>;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  riders: { type: 'string' },
  seconds: { type: 'string' },
  classes: { type: 'string' },
  via: { type: 'string' },
  aggregate: { type: 'boolean' },
  'aggregate-bytes': { type: 'string' },
  speedup: { type: 'string' },
  seed: { type: 'string' },
  stream: { type: 'string' },
  'kinesis-endpoint': { type: 'string' },
  region: { type: 'string' },
  'create-stream': { type: 'boolean' },
  shards: { type: 'string' },
  'partition-key': { type: 'string' },
  concurrency: { type: 'string' },
  'linger-ms': { type: 'string' },
  'max-attempts': { type: 'string' },
  'mqtt-url': { type: 'string' },
  'iot-endpoint': { type: 'string' },
  'iot-port': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  qos: { type: 'string' },
  'first-racer': { type: 'string' },
  'undelivered-file': { type: 'string' },
  racer: { type: 'string' },
  class: { type: 'string' },
  name: { type: 'string' },
  'race-id': { type: 'string' },
  pattern: { type: 'string' },
  'messages-per-record': { type: 'string' },
  'message-bytes': { type: 'string' },
  utilisation: { type: 'string' },
} as const;

/** `simulate` flags that apply to one path only; given with the other path they are a usage error. */
const KINESIS_ONLY_FLAGS = [
  'aggregate',
  'aggregate-bytes',
  'stream',
  'kinesis-endpoint',
  'region',
  'create-stream',
  'shards',
  'partition-key',
  'concurrency',
  'linger-ms',
  'max-attempts',
] as const;
const MQTT_ONLY_FLAGS = ['mqtt-url', 'iot-endpoint', 'iot-port', 'cert', 'key', 'ca', 'qos'] as const;

/** Which flags each command accepts (anything else is a usage error, not silently ignored). */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  simulate: [
    'json',
    'riders',
    'seconds',
    'classes',
    'via',
    'speedup',
    'seed',
    'first-racer',
    'undelivered-file',
    ...KINESIS_ONLY_FLAGS,
    ...MQTT_ONLY_FLAGS,
  ],
  ride: [
    'json',
    'racer',
    'class',
    'seconds',
    'name',
    'race-id',
    'seed',
    'speedup',
    'qos',
    'mqtt-url',
    'iot-endpoint',
    'iot-port',
    'cert',
    'key',
    'ca',
    'undelivered-file',
  ],
  capacity: ['json', 'riders', 'pattern', 'messages-per-record', 'message-bytes', 'utilisation'],
};

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  cwd: string;
}

/** Runs the CLI; resolves with the exit code (never throws for user errors). */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  try {
    let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (error) {
      // node:util's messages go on to explain `--`; the first sentence is the useful part.
      throw new UsageError((error as Error).message.split(/\.\s|\n/)[0]!);
    }
    const [command, ...extra] = parsed.positionals;
    const flags = parsed.values as Flags;
    if (flags.help || command === undefined || command === 'help') {
      io.stdout.write(HELP);
      return command === undefined && !flags.help ? EXIT.usage : EXIT.ok;
    }
    const allowed = COMMAND_FLAGS[command];
    if (!allowed) throw new UsageError(`unknown command "${command}" (simulate, ride, capacity; see --help)`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    for (const flag of Object.keys(flags)) {
      if (!allowed.includes(flag)) throw new UsageError(`--${flag} does not apply to "${command}"`, flag);
    }
    if (command === 'capacity') return capacity(flags, io);
    if (command === 'ride') return await ride(flags, io);
    return await simulate(flags, io);
  } catch (error) {
    return reportError(error, io);
  }
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
}

function reportError(error: unknown, io: CliIo): number {
  if (error instanceof UsageError || error instanceof TlsMaterialError) {
    io.stderr.write(`alleycat: ${error.message} (see alleycat --help)\n`);
    return EXIT.usage;
  }
  if (error instanceof BikeClientError) {
    io.stderr.write(`alleycat: ${error.message.split('\n')[0]}\n`);
    return EXIT.failure;
  }
  if (error instanceof RangeError || (error as { name?: string })?.name === 'InvalidArgumentError') {
    io.stderr.write(`alleycat: ${(error as Error).message}\n`);
    return EXIT.usage;
  }
  io.stderr.write(`alleycat: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
  return EXIT.failure;
}

// ---- flag helpers -------------------------------------------------------------------------------------

/** An http(s) URL flag, or undefined when not given. */
function httpUrl(flags: Flags, name: string): string | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(String(raw));
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(
      `--${name} must be an http(s) URL such as ${LOCAL_KINESIS_ENDPOINT_EXAMPLE}, got "${String(raw)}"`,
      name,
    );
  }
  return String(raw);
}

function integer(
  flags: Flags,
  name: string,
  fallback: number | undefined,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = flags[name];
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`, name);
    return fallback;
  }
  const value = Number(raw);
  if (
    typeof raw !== 'string' ||
    !/^\d+$/.test(raw.trim()) ||
    !Number.isSafeInteger(value) ||
    value < min ||
    value > max
  ) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${String(raw)}"`, name);
  }
  return value;
}

function decimal(flags: Flags, name: string, fallback: number, min: number, max: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${String(raw)}"`, name);
  }
  return value;
}

function choice<T extends string>(flags: Flags, name: string, choices: readonly T[], fallback: T): T {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  if (!choices.includes(raw as T)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${String(raw)}"`, name);
  }
  return raw as T;
}

function mqttEndpoint(flags: Flags): BikeEndpoint {
  const iot = flags['iot-endpoint'] as string | undefined;
  if (iot !== undefined) {
    if (flags['mqtt-url'] !== undefined) {
      throw new UsageError('give either --mqtt-url or --iot-endpoint, not both');
    }
    const certPath = flags.cert as string | undefined;
    const keyPath = flags.key as string | undefined;
    if (!certPath || !keyPath) throw new UsageError('--iot-endpoint needs --cert and --key (mutual TLS)');
    for (const flag of ['cert', 'key', 'ca']) {
      const path = flags[flag] as string | undefined;
      if (path !== undefined && !isReadableFile(path)) {
        throw new UsageError(`--${flag}: cannot read ${JSON.stringify(path)}`, flag);
      }
    }
    return {
      mode: 'aws',
      endpoint: iot,
      certPath,
      keyPath,
      ...(flags.ca ? { caPath: flags.ca as string } : {}),
      ...(flags['iot-port'] !== undefined ? { port: integer(flags, 'iot-port', 8883, 1, 65_535) } : {}),
    };
  }
  for (const flag of ['cert', 'key', 'ca', 'iot-port']) {
    if (flags[flag] !== undefined) throw new UsageError(`--${flag} applies to --iot-endpoint only`, flag);
  }
  try {
    return localEndpointFromUrl((flags['mqtt-url'] as string | undefined) ?? LOCAL_MQTT_URL_EXAMPLE);
  } catch (error) {
    throw new UsageError(`--mqtt-url: ${(error as Error).message}`, 'mqtt-url');
  }
}

function isReadableFile(path: string): boolean {
  try {
    accessSync(path, fsConstants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function seedOf(flags: Flags): number | string {
  const raw = flags.seed as string | undefined;
  if (raw === undefined) return SIMULATION_DEFAULTS.seed;
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}

// ---- capacity -----------------------------------------------------------------------------------------

function capacity(flags: Flags, io: CliIo): number {
  const pattern = choice(flags, 'pattern', ['single', 'batched'] as const, 'single');
  const plan = planCapacity({
    riders: integer(flags, 'riders', undefined),
    pattern,
    ...(flags['messages-per-record'] !== undefined
      ? { messagesPerRecord: integer(flags, 'messages-per-record', 5) }
      : {}),
    ...(flags['message-bytes'] !== undefined
      ? { averageMessageBytes: integer(flags, 'message-bytes', 170) }
      : {}),
    ...(flags.utilisation !== undefined
      ? { maxUtilisation: decimal(flags, 'utilisation', 0.8, 0.01, 1) }
      : {}),
  });
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return EXIT.ok;
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const rows: Array<[string, string]> = [
    ['riders', n(plan.input.riders)],
    [
      'pattern',
      pattern === 'batched'
        ? `batched (${plan.input.messagesPerRecord} messages per record)`
        : 'single (one record per message)',
    ],
    ['messages / s', n(plan.input.riders * plan.input.messagesPerSecond)],
    ['records / s', n(plan.recordsPerSecond)],
    ['bytes / record', n(plan.recordBytes)],
    [
      'bytes / s (incl. keys)',
      `${n(plan.bytesPerSecond)} (${(plan.bytesPerSecond / 1024 / 1024).toFixed(2)} MiB/s)`,
    ],
    ['shards needed (records)', n(plan.shardsNeeded.records)],
    ['shards needed (bytes)', n(plan.shardsNeeded.bytes)],
    [
      'shards',
      `${n(plan.shards)}  ← ${plan.bindingLimit} limit binds, at ≤ ${pct(plan.input.maxUtilisation)} per shard`,
    ],
    ['utilisation (records)', pct(plan.utilisation.records)],
    ['utilisation (bytes)', pct(plan.utilisation.bytes)],
    ['PUT payload units / s', n(plan.putPayloadUnitsPerSecond)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  io.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
  return EXIT.ok;
}

// ---- simulate -----------------------------------------------------------------------------------------

async function simulate(flags: Flags, io: CliIo): Promise<number> {
  const via = choice(flags, 'via', ['kinesis', 'mqtt'] as const, 'kinesis');
  const riders = integer(flags, 'riders', SIMULATION_DEFAULTS.riders);
  const seconds = integer(flags, 'seconds', SIMULATION_DEFAULTS.seconds, 1, 86_400);
  const classes = integer(flags, 'classes', SIMULATION_DEFAULTS.classes, 1, 999);
  const speedup = decimal(flags, 'speedup', SIMULATION_DEFAULTS.speedup, 0.01, 10_000);
  const firstRacer = integer(flags, 'first-racer', 1, 0, MAX_ID - riders + 1);
  for (const flag of via === 'kinesis' ? MQTT_ONLY_FLAGS : KINESIS_ONLY_FLAGS) {
    if (flags[flag] !== undefined) throw new UsageError(`--${flag} does not apply to --via ${via}`, flag);
  }

  const simulation = new Simulation({
    riders,
    seconds,
    classes,
    speedup,
    seed: seedOf(flags),
    firstRacerId: firstRacer,
  });
  let sink: Sink;
  let cleanup = async () => {};
  if (via === 'kinesis') {
    const streamName = (flags.stream as string | undefined) ?? STREAM_NAME;
    const strategy = choice(
      flags,
      'partition-key',
      PARTITION_KEY_STRATEGIES,
      'racer',
    ) as PartitionKeyStrategy;
    const endpoint = effectiveKinesisEndpoint(httpUrl(flags, 'kinesis-endpoint'));
    const concurrency = integer(flags, 'concurrency', PRODUCER_DEFAULTS.maxConcurrency, 1, 64);
    // Checked before any call, like every flag: room for one message of the largest size the schema allows.
    const aggregateBytes = integer(
      flags,
      'aggregate-bytes',
      AGGREGATION_DEFAULT_TARGET_BYTES,
      AGGREGATE_MIN_BYTES,
      1024 * 1024,
    );
    const client = createKinesisClient({
      ...(endpoint ? { endpoint } : {}),
      ...(flags.region ? { region: flags.region as string } : {}),
      maxSockets: concurrency + 2,
    });
    cleanup = async () => client.destroy();
    const where = endpoint ?? 'Kinesis';
    try {
      const info = flags['create-stream']
        ? await ensureStream(client, streamName, integer(flags, 'shards', 4, 1, 500))
        : await describeStream(client, streamName);
      if (info.status !== 'ACTIVE' && info.status !== 'UPDATING') {
        throw new UsageError(`stream ${streamName} is ${info.status}, not ACTIVE`);
      }
      const shards = flags.aggregate ? await listShardRanges(client, streamName) : [];
      sink = new KinesisSink({
        client,
        streamName,
        partitionKey: strategy,
        ...(flags.aggregate
          ? {
              aggregate: {
                shards,
                maxBytes: aggregateBytes,
              },
            }
          : {}),
        producer: {
          maxConcurrency: concurrency,
          lingerMs: integer(flags, 'linger-ms', PRODUCER_DEFAULTS.lingerMs, 0, 60_000),
          maxAttempts: integer(flags, 'max-attempts', PRODUCER_DEFAULTS.maxAttempts, 1, 100),
        },
      });
    } catch (error) {
      if (error instanceof KinesisRequestError && error.code === 'ResourceNotFoundException') {
        // Say which streams are there: the local stack's is `dev-alleycat`, not the default `alleycat`.
        const existing = await streamNames(client);
        await cleanup();
        throw new UsageError(
          `stream "${streamName}" not found at ${where}${existing.length > 0 ? `; it has ${existing.map((n) => `"${n}"`).join(', ')} (pass --stream NAME)` : ''} — or create it with --create-stream for local use`,
          'stream',
        );
      }
      await cleanup();
      if (error instanceof KinesisRequestError) {
        if (error.fault === 'network') throw new EndpointUnreachableError(where, error.message, error);
        throw new KinesisRequestError(`${where}: ${error.message}`, {
          code: error.code,
          fault: error.fault,
          retryable: error.retryable,
          ...(error.httpStatusCode === undefined ? {} : { httpStatusCode: error.httpStatusCode }),
          cause: error,
        });
      }
      throw error;
    }
  } else {
    if (riders > MQTT_MAX_RIDERS_PER_PROCESS) {
      throw new UsageError(
        `--via mqtt opens one connection per rider; ${riders} exceeds the ${MQTT_MAX_RIDERS_PER_PROCESS} one process holds here — split the field with --first-racer over several processes`,
        'riders',
      );
    }
    const mqttSink = new MqttSink({
      endpoint: mqttEndpoint(flags),
      qos: Number(choice(flags, 'qos', ['0', '1'] as const, '0')) as 0 | 1,
      riders: simulation.racers.map((r) => ({ racerId: r.profile.racerId, classId: r.profile.classId })),
      onConnectProgress: (done, total) => {
        if (!flags.json && io.stderr.isTTY) io.stderr.write(`\rconnecting bikes ${done}/${total}`);
      },
    });
    await mqttSink.connect();
    if (!flags.json && io.stderr.isTTY) io.stderr.write('\n');
    sink = mqttSink;
    cleanup = async () => {
      await mqttSink.close();
    };
  }

  const abort = new AbortController();
  const stopSignals = interruptOn(abort, io);
  const progress = !flags.json && io.stderr.isTTY ? startProgress(simulation, sink, io) : undefined;
  try {
    let summary: SimulationSummary;
    try {
      summary = await simulation.run(sink, abort.signal);
    } finally {
      progress?.stop();
    }
    const leftovers = await sink.close();
    await cleanup();
    summary.undelivered.push(...leftovers);
    return finish(summary, flags, io, abort.signal.aborted);
  } finally {
    stopSignals();
  }
}

/**
 * Ctrl-C or SIGTERM ends the run: the first one stops sending; later ones, while what was built is delivered
 * or recorded (bounded by --max-attempts), only say so — the report, with the undelivered file, still comes.
 * Returns the function that removes the handlers.
 */
function interruptOn(abort: AbortController, io: CliIo): () => void {
  const onSignal = () => {
    if (!abort.signal.aborted) return abort.abort();
    io.stderr.write(
      'alleycat: finishing — delivering or recording what was already built; the report follows\n',
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
}

function startProgress(simulation: Simulation, sink: Sink, io: CliIo): { stop(): void } {
  let last = { at: performance.now(), delivered: 0 };
  const timer = setInterval(() => {
    const c = sink.counters();
    const now = performance.now();
    const rate = ((c.delivered - last.delivered) * 1000) / (now - last.at);
    last = { at: now, delivered: c.delivered };
    io.stderr.write(
      `\r\x1b[Ksecond ${simulation.second + 1}/${simulation.options.seconds}  ${Math.round(rate).toLocaleString('en-US')} msg/s  delivered ${c.delivered.toLocaleString('en-US')}  retries ${c.retried}  failed ${c.failed}  lag ${Math.round(simulation.clock.maxLagMs)} ms`,
    );
  }, 1000);
  return {
    stop() {
      clearInterval(timer);
      io.stderr.write('\r\x1b[K');
    },
  };
}

function writeUndelivered(undelivered: UndeliveredMessage[], flags: Flags, io: CliIo): string | undefined {
  if (undelivered.length === 0) return undefined;
  const path =
    (flags['undelivered-file'] as string | undefined) ??
    `${io.cwd}/alleycat-undelivered-${new Date().toISOString().replaceAll(':', '-')}.ndjson`;
  const lines = undelivered.map((u) => {
    let message: unknown = u.payload;
    try {
      message = JSON.parse(u.payload);
    } catch {
      // keep the raw text
    }
    return JSON.stringify({
      errorCode: u.errorCode,
      errorMessage: u.errorMessage,
      attempts: u.attempts,
      message,
    });
  });
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function finish(summary: SimulationSummary, flags: Flags, io: CliIo, interrupted: boolean): number {
  const { undelivered, ...rest } = summary;
  const file = writeUndelivered(undelivered, flags, io);
  const report = { ...rest, interrupted, undelivered: undelivered.length, undeliveredFile: file ?? null };
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const n = (x: number) => Math.round(x).toLocaleString('en-US');
    const rows: Array<[string, string]> = [
      ['sink', summary.sink],
      [
        'riders × seconds',
        `${n(summary.riders)} × ${summary.seconds} in ${summary.classes} classes (races ${summary.raceIds[0]}…)`,
      ],
      ['messages built', n(summary.messages)],
      ['delivered', n(summary.delivered)],
      ['failed', `${n(summary.failed)}${file ? `  → ${file}` : ''}`],
      ['retried', n(summary.retried)],
      ['requests', `${n(summary.requests)} (${summary.requestsPerMessage.toFixed(4)} per message)`],
      ['records', n(summary.records)],
      ['bytes', n(summary.bytes)],
      ['PUT payload units', n(summary.putPayloadUnits)],
      ['throttled entries', n(summary.throttled)],
      ['elapsed', `${summary.elapsedSeconds.toFixed(1)} s (${n(summary.messagesPerSecond)} msg/s delivered)`],
      ['max lag', `${summary.maxLagMs} ms`],
    ];
    if (interrupted)
      rows.push(['interrupted', 'yes (Ctrl-C): the race stopped early; everything built was flushed']);
    const width = Math.max(...rows.map(([k]) => k.length));
    io.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
  }
  return undelivered.length > 0 ? EXIT.undelivered : EXIT.ok;
}

// ---- ride ---------------------------------------------------------------------------------------------

/** The flag behind each field a user sets of the message `ride` builds. */
const RIDE_FLAG_OF: Record<string, string> = {
  '/name': 'name',
  '/racerId': 'racer',
  '/classId': 'class',
  '/raceId': 'race-id',
};

/** Refuses, before connecting, a message the flags make invalid, naming the flag (exit 2). */
function checkBuiltMessage(message: RaceMessage): void {
  const checked = validateRaceMessage(message);
  if (checked.ok) return;
  const flag = RIDE_FLAG_OF[checked.error.path];
  if (flag === undefined) return; // not the user's doing: publish reports it as a bug
  throw new UsageError(`--${flag}: ${describeParseError(checked.error)}`, flag);
}

async function ride(flags: Flags, io: CliIo): Promise<number> {
  const racerId = integer(flags, 'racer', undefined, 0);
  const classId = integer(flags, 'class', undefined, 0);
  const seconds = integer(flags, 'seconds', SIMULATION_DEFAULTS.seconds, 1, 86_400);
  const speedup = decimal(flags, 'speedup', 1, 0.01, 10_000);
  const clock = new RaceClock({ seconds, speedup });
  const raceId = integer(flags, 'race-id', Math.floor(clock.startMs / 1000) * 1000 + classId, 0);
  const racer = createRacer(
    racerId,
    classId,
    raceId,
    seconds,
    new Prng(seedOf(flags)).fork(racerId),
    flags.name as string | undefined,
  );
  // The fields the flags set, checked before connecting (the rider model's own fields are always valid).
  checkBuiltMessage({
    event: 'update',
    deviceTimestamp: clock.deviceTimestampOf(0),
    second: 0,
    raceId,
    name: racer.profile.name,
    racerId,
    classId,
    cadence: 0,
    resistance: 0,
  });
  const undelivered: UndeliveredMessage[] = [];
  const bike = new Bike({
    racerId,
    classId,
    endpoint: mqttEndpoint(flags),
    qos: Number(choice(flags, 'qos', ['0', '1'] as const, '0')) as 0 | 1,
    onDropped: (messages, reason) => {
      for (const m of messages) {
        undelivered.push({
          errorCode: reason === 'queue_full' ? 'OfflineQueueFull' : 'NotDeliveredBeforeClose',
          errorMessage: reason,
          payload: JSON.stringify(m),
        });
      }
    },
  });
  const log = (line: string) => {
    if (!flags.json) io.stdout.write(`${line}\n`);
  };
  bike.on('interrupt', () => log('connection lost; reconnecting (messages wait in the queue)'));
  bike.on('resume', () => log('reconnected'));
  try {
    await bike.connect();
    log(
      `${bike.clientId} riding race ${raceId} (class ${classId}) as "${racer.profile.name}" → ${bike.endpointName} ${INGEST_TOPIC}, QoS ${bike.qos}`,
    );

    const abort = new AbortController();
    const stopSignals = interruptOn(abort, io);
    try {
      for await (const second of clock.ticks(abort.signal)) {
        const message = nextMessage(racer, second, seconds, clock.deviceTimestampOf(second));
        bike.publish(message);
        const s = bike.standing;
        const standing = s
          ? `  rank ${s.rank}/${s.racers}  total ${s.total.toFixed(1)}${s.leaderTotal !== undefined ? `  leader ${s.leaderTotal.toFixed(1)}` : ''}`
          : '  (no standings yet)';
        log(
          `${String(second).padStart(4)}s  ${message.cadence.toFixed(1).padStart(5)} rpm  ${message.resistance.toFixed(1).padStart(5)} %  output ${output(message.cadence, message.resistance).toFixed(1).padStart(6)}${standing}`,
        );
      }
      await bike.drain(10_000);
      // The board of the last second comes about a second after it: wait for it (bounded) before disconnecting.
      if (!abort.signal.aborted) await finalStanding(bike, seconds - 1, FINAL_STANDING_WAIT_MS);
      const standing = bike.standing;
      // Closing drops what is still queued (into `undelivered`): the counts are read after it.
      await bike.close();
      const stats = bike.stats;
      const file = writeUndelivered(undelivered, flags, io);
      const report = {
        racerId,
        classId,
        raceId,
        clientId: bike.clientId,
        qos: bike.qos,
        ...stats,
        standing: standing ?? null,
        undeliveredFile: file ?? null,
      };
      if (flags.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else
        log(
          `published ${stats.published}, delivered ${stats.delivered}, resent ${stats.resent}, dropped ${stats.dropped}${file ? ` → ${file}` : ''}`,
        );
      return undelivered.length > 0 ? EXIT.undelivered : EXIT.ok;
    } finally {
      stopSignals();
    }
  } finally {
    // Whatever failed, the connection goes: an open MQTT client would keep the process alive.
    await bike.close();
  }
}

/** Resolves once the bike's standing covers `lastSecond` (or its race closed), or after `timeoutMs`. */
async function finalStanding(bike: Bike, lastSecond: number, timeoutMs: number): Promise<void> {
  const done = () => {
    const s = bike.standing;
    return s !== undefined && (s.closed || s.second >= lastSecond);
  };
  if (done()) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(finish, timeoutMs);
    function finish() {
      clearTimeout(timer);
      bike.off('standing', check);
      resolve();
    }
    function check() {
      if (done()) finish();
    }
    bike.on('standing', check);
  });
}
