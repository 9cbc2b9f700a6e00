/**
 * `pnpm start`: the whole pipeline on this machine, with a race on it. Brings the stack up (free ports unless
 * given), runs `alleycat simulate` (apps/bike-client, as a child process) through MQTT or straight into
 * Kinesis, shows a live leaderboard from `alleycat-subscribe/+` with the parts' counters, prints the final
 * results and stops everything. Exit 0 when every message was delivered and every race finished on its board.
 *
 *   pnpm start [--riders 1000] [--seconds 45] [--classes 6] [--via mqtt|kinesis] [--aggregate] [--speedup 1]
 *              [--seed 1] [--top 3] [--data-dir DIR] [--no-limits] [--mqtt-port 0 …]
 */
import './quiet-sdk-warning.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INGEST_TOPIC, LAMBDA_BUNDLE, parseLeaderboardMessage, RESULTS_TOPIC_FILTER } from '@alleycat/schema';
import mqtt from 'mqtt';
import { claimDataDir, DATA_DIR_LOCK_FILE } from '../data-dir-lock.js';
import { MetricTotals, parseEmfLine } from '../race/emf.js';
import { percentile } from '../race/percentiles.js';
import { RaceBoards } from '../race/race-boards.js';
import { type RaceCounters, renderBoards, renderScreen, renderStatus } from '../race/render.js';
import { loadStackConfig } from '../stack-config.js';
import { type Ports, type RunningStack, startStack } from '../supervisor.js';
import { parseFlags, portFlag, UsageError, userPath } from './args.js';
import { stopWhenLauncherExits } from './launcher-watch.js';

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));
const REPO_DIR = path.join(PACKAGE_DIR, '..', '..');
const INFRA_OUT = path.join(REPO_DIR, 'apps', 'infra', 'cdktf.out', 'stacks');
const ALLEYCAT_BIN = path.join(REPO_DIR, 'apps', 'bike-client', 'bin', 'alleycat.mjs');
const DEFAULT_BUNDLE = path.join(
  REPO_DIR,
  'apps',
  'ingest-lambda',
  LAMBDA_BUNDLE.directory,
  LAMBDA_BUNDLE.file,
);
/** After the last race second, how long to wait for every race's closing board. */
const FINISH_TIMEOUT_MS = 30_000;
/** After the boards closed: how long the last invocations may take to finish (bests, metrics) before the stop. */
const DRAIN_TIMEOUT_MS = 15_000;

const USAGE =
  'pnpm start [--riders 1000] [--seconds 45] [--classes 6] [--via mqtt|kinesis] [--aggregate] [--speedup 1] [--seed 1]\n' +
  '           [--top 3] [--data-dir DIR] [--no-limits] [--stack NAME | --stack-file cdk.tf.json]\n' +
  '           [--mqtt-port 0] [--ws-port 0] [--kinesis-port 0] [--kinesalite-port 0] [--dynamodb-port 0] [--iot-data-port 0]\n' +
  'Ports default to free ones (0); a port given and busy is an error naming it.\n';

const { values: flags } = parseFlags(
  'pnpm start',
  {
    options: {
      riders: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '45' },
      classes: { type: 'string', default: '6' },
      via: { type: 'string', default: 'mqtt' },
      aggregate: { type: 'boolean', default: false },
      speedup: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      top: { type: 'string', default: '3' },
      stack: { type: 'string' },
      'stack-file': { type: 'string' },
      bundle: { type: 'string', default: DEFAULT_BUNDLE },
      'data-dir': { type: 'string', default: path.join(PACKAGE_DIR, '.local-stack', 'race') },
      'no-limits': { type: 'boolean', default: false },
      'mqtt-port': { type: 'string', default: '0' },
      'ws-port': { type: 'string', default: '0' },
      'kinesis-port': { type: 'string', default: '0' },
      'kinesalite-port': { type: 'string', default: '0' },
      'dynamodb-port': { type: 'string', default: '0' },
      'iot-data-port': { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
  },
  USAGE,
);

if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

function positiveInteger(flag: string, value: string | undefined, min = 1): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) {
    throw new UsageError(`--${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

const isTty = process.stdout.isTTY === true;
const out = (text: string) => process.stdout.write(text);

async function stackFile(): Promise<string> {
  if (flags['stack-file']) return userPath(flags['stack-file']);
  const stacks = await readdir(INFRA_OUT).catch(() => [] as string[]);
  const name = flags.stack ?? stacks[0];
  if (name === undefined) {
    throw new UsageError(
      `no synthesized stack under ${INFRA_OUT}: run \`pnpm --filter @alleycat/infra synth\``,
    );
  }
  return path.join(INFRA_OUT, name, 'cdk.tf.json');
}

let stack: RunningStack | undefined;
let simulator: ChildProcess | undefined;
let listener: mqtt.MqttClient | undefined;
let stopping: Promise<void> | undefined;

/** Stops the simulator, the listener and every part (by process id); safe to call more than once. */
function stopEverything(): Promise<void> {
  stopping ??= (async () => {
    if (simulator && simulator.exitCode === null && simulator.signalCode === null) {
      const exited = new Promise<void>((resolve) => simulator!.once('exit', () => resolve()));
      simulator.kill('SIGINT'); // the simulator flushes and prints its summary on SIGINT
      const timer = setTimeout(() => simulator?.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await listener?.endAsync(true).catch(() => {});
    await stack?.stop();
  })();
  return stopping;
}

async function main(): Promise<number> {
  const riders = positiveInteger('riders', flags.riders);
  const seconds = positiveInteger('seconds', flags.seconds);
  const classes = positiveInteger('classes', flags.classes);
  const top = positiveInteger('top', flags.top);
  positiveInteger('seed', flags.seed, 0);
  const speedup = Number(flags.speedup);
  if (!(speedup > 0)) throw new UsageError(`--speedup: expected a positive number, got ${flags.speedup}`);
  const via = flags.via;
  if (via !== 'mqtt' && via !== 'kinesis')
    throw new UsageError(`--via: expected mqtt or kinesis, got ${via}`);
  if (flags.aggregate && via !== 'kinesis') throw new UsageError('--aggregate: only with --via kinesis');
  const ports: Ports = {
    mqtt: portFlag('mqtt-port', flags['mqtt-port'], 0),
    mqttWs: portFlag('ws-port', flags['ws-port'], 0),
    kinesis: portFlag('kinesis-port', flags['kinesis-port'], 0),
    kinesalite: portFlag('kinesalite-port', flags['kinesalite-port'], 0),
    dynamodb: portFlag('dynamodb-port', flags['dynamodb-port'], 0),
    iotData: portFlag('iot-data-port', flags['iot-data-port'], 0),
  };

  const file = await stackFile();
  const config = await loadStackConfig(file);
  const stream = config.eventSourceMappings[0]?.streamName ?? config.streams[0]?.name;
  const streamConfig = config.streams.find((s) => s.name === stream);
  if (stream === undefined || streamConfig === undefined) {
    throw new UsageError(`${file} has no Kinesis stream with an event source mapping`);
  }
  const dataDir = userPath(flags['data-dir']!);
  // Each race starts with empty inspection files, unless another race or stack holds the folder (then it stops
  // here, having deleted nothing); the stack below claims it again and releases it when it stops.
  await claimDataDir(dataDir);
  for (const entry of await readdir(dataDir)) {
    if (entry !== DATA_DIR_LOCK_FILE) await rm(path.join(dataDir, entry), { recursive: true, force: true });
  }
  const logFile = path.join(dataDir, 'stack.log');
  const log = createWriteStream(logFile);

  // The Lambda's EMF lines stand in for CloudWatch; every other line of every part goes to the log file.
  const metrics = new MetricTotals();
  const started = Date.now();
  out(
    `Alleycat local race: ${riders.toLocaleString('en-US')} riders × ${seconds} s in ${classes} classes via ${via}` +
      `${flags.aggregate ? ' (KPL-aggregated)' : ''}${speedup !== 1 ? `, ${speedup}× speed` : ''}; ` +
      `stream ${stream} (${streamConfig.shardCount} shards, limits ${flags['no-limits'] ? 'OFF' : 'enforced'})\n` +
      `starting the stack (${path.relative(process.cwd(), file)}), logs in ${path.relative(process.cwd(), logFile)}…\n`,
  );
  stack = await startStack({
    config,
    ports,
    dataDir,
    bundle: userPath(flags.bundle!),
    limitsEnabled: !flags['no-limits'],
    onOutput: (line, part) => {
      const emf = part.name === 'event-source-mapping' ? parseEmfLine(line) : undefined;
      if (emf) metrics.add(emf);
      else log.write(`[${part.label}] ${line}\n`);
    },
  });
  out(
    `stack up in ${((Date.now() - started) / 1000).toFixed(1)} s: MQTT ${stack.endpoints.mqtt}, Kinesis ${stack.endpoints.kinesis}\n`,
  );

  const boards = new RaceBoards();
  listener = await mqtt.connectAsync(stack.endpoints.mqtt, {
    clientId: `alleycat-start-${process.pid}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  listener.on('message', (topic, payload) => {
    const now = Date.now();
    if (topic === INGEST_TOPIC) {
      // The bikes' own messages (MQTT path): when each race second was published, for end-to-end latency.
      try {
        const m = JSON.parse(payload.toString('utf8')) as { raceId?: unknown; second?: unknown };
        if (typeof m.raceId === 'number' && typeof m.second === 'number')
          boards.sent(m.raceId, m.second, now);
      } catch {
        // not a race message: the rule and the Lambda deal with it
      }
      return;
    }
    const parsed = parseLeaderboardMessage(payload);
    if (parsed.ok) boards.receive(parsed.leaderboard, now);
  });
  await listener.subscribeAsync(RESULTS_TOPIC_FILTER, { qos: 0 });
  if (via === 'mqtt') await listener.subscribeAsync(INGEST_TOPIC, { qos: 0 });

  const broker = stack.supervisor.running().find((p) => p.name === 'broker');
  const kinesisPart = stack.supervisor.running().find((p) => p.name === 'kinesis');
  const partStats = async () => {
    const [rules, kinesis] = await Promise.all([
      broker ? stack!.supervisor.stats(broker).catch(() => ({}) as Record<string, number>) : {},
      kinesisPart ? stack!.supervisor.stats(kinesisPart).catch(() => ({}) as Record<string, number>) : {},
    ]);
    return { rules: rules as Record<string, number>, kinesis: kinesis as Record<string, number> };
  };

  const args = [
    ALLEYCAT_BIN,
    'simulate',
    '--json',
    `--via=${via}`,
    `--riders=${riders}`,
    `--seconds=${seconds}`,
    `--classes=${classes}`,
    `--speedup=${speedup}`,
    `--seed=${flags.seed}`,
    `--undelivered-file=${path.join(dataDir, 'undelivered.ndjson')}`,
    ...(via === 'mqtt'
      ? [`--mqtt-url=${stack.endpoints.mqtt}`, '--qos=1']
      : [`--kinesis-endpoint=${stack.endpoints.kinesis}`, `--stream=${stream}`, `--region=${config.region}`]),
    ...(flags.aggregate ? ['--aggregate'] : []),
  ];
  let simulatorStdout = '';
  const raceStarted = Date.now();
  simulator = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: config.region,
    },
  });
  simulator.stdout!.on('data', (chunk: Buffer) => {
    simulatorStdout += chunk.toString('utf8');
  });
  simulator.stderr!.on('data', (chunk: Buffer) => log.write(`[simulator] ${chunk.toString('utf8')}`));
  const simulatorDone = new Promise<number>((resolve) =>
    simulator!.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))),
  );

  // The live screen: redrawn in place on a terminal, a progress line every 5 s otherwise.
  /** Samples of the counters, for rates over the last ~2 s (a 0.5 s window is too jumpy to read). */
  const history: Array<{ ingest: number; processed: number; at: number }> = [];
  let drawnLines = 0;
  let lastParts: Awaited<ReturnType<typeof partStats>> = { rules: {}, kinesis: {} };
  let lastPlain = 0;
  const counters = async (): Promise<RaceCounters> => {
    const { rules, kinesis } = await partStats();
    const now = Date.now();
    const ingest = via === 'mqtt' ? (rules['delivered'] ?? 0) : (kinesis['writtenRecords'] ?? 0);
    const processed = metrics.get('Messages');
    history.push({ ingest, processed, at: now });
    while (history.length > 2 && now - history[1]!.at >= 2_000) history.shift();
    const previous = history[0]!;
    const dt = Math.max(1, now - previous.at) / 1000;
    const c: RaceCounters = {
      second: Math.floor(((now - raceStarted) / 1000) * speedup),
      seconds,
      via,
      ingestPerSecond: (ingest - previous.ingest) / dt,
      processedPerSecond: (processed - previous.processed) / dt,
      processed,
      invalid: metrics.get('InvalidRecords'),
      duplicates: metrics.get('DuplicateSeconds'),
      throttledWrites: kinesis['throttledRecords'] ?? 0,
      throttledReads: kinesis['throttledReads'] ?? 0,
      errorActions: rules['errorActions'] ?? 0,
      latenciesMs: boards.latenciesMs,
      arrivalLagMs: metrics.last['ArrivalLagMs'],
    };
    lastParts = { rules, kinesis };
    return c;
  };
  const heading = `Alleycat — ${riders.toLocaleString('en-US')} riders via ${via} (Ctrl-C stops everything)`;
  const draw = async () => {
    const c = await counters();
    if (isTty) {
      // Redrawing in place only works while the screen fits the terminal: fewer racers per class if needed.
      const races = boards.all();
      const rows = process.stdout.rows ?? 50;
      const fit = Math.max(1, Math.floor((rows - 5) / Math.max(1, races.length)) - 1);
      const lines = renderScreen(heading, c, races, Math.min(top, fit));
      out(`${drawnLines > 0 ? `\x1b[${drawnLines}A` : ''}\x1b[J${lines.join('\n')}\n`);
      drawnLines = lines.length;
    } else if (Date.now() - lastPlain >= 5_000) {
      lastPlain = Date.now();
      out(`${renderStatus(c)}\n`);
    }
    return c;
  };
  let drawing = false;
  const ticker = setInterval(() => {
    if (drawing) return;
    drawing = true;
    draw()
      .catch(() => {})
      .finally(() => {
        drawing = false;
      });
  }, 500);

  const simulatorCode = await simulatorDone;
  let summary: Record<string, unknown> = {};
  try {
    summary = JSON.parse(simulatorStdout) as Record<string, unknown>;
  } catch {
    clearInterval(ticker);
    throw new Error(`the simulator exited with code ${simulatorCode} without a summary; see ${logFile}`);
  }
  const raceIds = (summary['raceIds'] as number[] | undefined) ?? [];

  // Every race ends with a closed board once all its finals are counted; wait for those (bounded).
  const deadline = Date.now() + FINISH_TIMEOUT_MS;
  while (Date.now() < deadline && !raceIds.every((id) => boards.get(id)?.closed)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  // A race's closing board goes out before its invocation ends (the bests are written after the publish, the
  // metrics at the end): let those invocations finish before stopping the stack (bounded).
  const drained = Date.now() + DRAIN_TIMEOUT_MS;
  const sent = Number(summary['delivered'] ?? 0);
  const mappings = stack.supervisor.running().filter((p) => p.name === 'event-source-mapping');
  const busy = async () => {
    if (metrics.get('Messages') < sent) return true;
    for (const part of mappings) {
      const s = await stack!.supervisor.stats(part).catch(() => ({}) as Record<string, number>);
      if ((s['inFlight'] ?? 0) > 0 || (s['iteratorAgeMs'] ?? 0) > 0) return true;
    }
    return false;
  };
  while (Date.now() < drained && (await busy())) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 300)); // the last invocation's metric lines, still in the pipe
  clearInterval(ticker);
  while (drawing) await new Promise((r) => setTimeout(r, 20));
  const final = await draw();

  const unfinished = raceIds.filter((id) => !boards.get(id)?.closed);
  const delivered = Number(summary['delivered'] ?? 0);
  const failed = Number(summary['failed'] ?? 0);
  const lat = boards.latenciesMs;
  const lines = [
    '',
    `Final results (${((Date.now() - raceStarted) / 1000).toFixed(1)} s race + drain):`,
    ...(isTty ? [] : renderBoards(boards.all(), top)),
    `  simulator: ${Number(summary['messages'] ?? 0).toLocaleString('en-US')} messages built, ${delivered.toLocaleString('en-US')} delivered, ${failed} failed, ${summary['retried'] ?? 0} retried, ${summary['throttled'] ?? 0} throttled entries`,
    `  Lambda: ${metrics.get('Messages').toLocaleString('en-US')} messages, ${metrics.get('SecondsCounted').toLocaleString('en-US')} seconds counted, ${final.duplicates} duplicates, ${final.invalid} invalid, ${metrics.get('LeaderboardsPublished')} leaderboards published`,
    // What the race cost in DynamoDB writes (the ingest Lambda's StateWrites: every request, lost conditions
    // included), per 1,000 rider-seconds — the cost figure apps/ingest-lambda's README discusses — and how
    // much of it is the closing racers' bests (one each at a race's end: a short race pays them over few
    // seconds).
    dynamoLine(
      metrics.get('StateWrites'),
      metrics.get('BestWrites'),
      metrics.get('StateWritesLost'),
      metrics.get('SecondsCounted'),
    ),
    `  limits layer: ${final.throttledWrites} writes and ${final.throttledReads} reads throttled; rule error action: ${final.errorActions}`,
    ...(lat.length > 0
      ? [
          `  publish → leaderboard: p50 ${Math.round(percentile(lat, 50))} ms, p99 ${Math.round(percentile(lat, 99))} ms over ${lat.length} boards`,
        ]
      : []),
    `  inspection files: ${dataDir}`,
  ];
  if (unfinished.length > 0) {
    lines.push(
      `  NOT FINISHED: no closing leaderboard within ${FINISH_TIMEOUT_MS / 1000} s for races ${unfinished.join(', ')}`,
    );
  }
  out(`${lines.join('\n')}\n`);
  // Everything counted, for a person (or a script) to look at after the race.
  const results = {
    simulator: summary,
    lambdaMetrics: metrics.totals,
    parts: lastParts,
    latencyMs:
      lat.length > 0 ? { p50: percentile(lat, 50), p99: percentile(lat, 99), boards: lat.length } : null,
    races: boards.all().map((r) => ({
      raceId: r.raceId,
      classId: r.classId,
      closed: r.closed,
      second: r.second,
      standings: [...r.standings.values()],
    })),
    unfinished,
  };
  await writeFile(path.join(dataDir, 'results.json'), `${JSON.stringify(results)}\n`);
  log.end();
  return simulatorCode === 0 && failed === 0 && unfinished.length === 0 ? 0 : 1;
}

let interrupted = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (interrupted) return;
  interrupted = true;
  stack?.supervisor.beginShutdown();
  // Parts going away under a client mid-request are expected now: such an error must not turn Ctrl-C into a
  // crash (exit 1) before every part is stopped; it is reported and the stop goes on.
  const report = (error: unknown) => process.stderr.write(`(while stopping) ${String(error)}\n`);
  process.on('uncaughtException', report);
  process.on('unhandledRejection', report);
  out(`\n${signal}: stopping every part…\n`);
  void stopEverything().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A SIGTERM to pnpm alone ends pnpm without reaching this process: stop as if it had.
stopWhenLauncherExits(() => onSignal('SIGTERM'));

try {
  const code = await main();
  await stopEverything();
  process.exit(interrupted ? 130 : code);
} catch (error) {
  if (!interrupted) {
    const e = error as Error;
    process.stderr.write(
      `pnpm start: ${['UsageError', 'PortInUseError', 'DataDirInUseError'].includes(e.name) ? '' : `${e.name}: `}${e.message}\n` +
        (e instanceof UsageError && !e.message.startsWith('no synthesized stack') ? USAGE : ''),
    );
    await stopEverything().catch(() => {});
    process.exit(e.name === 'UsageError' ? 2 : 1);
  }
}

/** The summary's DynamoDB line: writes per 1,000 rider-seconds, split into bests and the races' state. */
function dynamoLine(writes: number, bests: number, lost: number, riderSeconds: number): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return `  DynamoDB: ${n(writes)} writes (${perThousand(writes, riderSeconds)} per 1,000 rider-seconds: ${perThousand(bests, riderSeconds)} closing racers' bests, ${perThousand(writes - bests, riderSeconds)} the races' state), ${n(lost)} lost conditional writes`;
}

/** `count` per 1,000 of `per`, to one decimal; "–" when there is nothing to divide by. */
function perThousand(count: number, per: number): string {
  return per > 0 ? ((count / per) * 1_000).toFixed(1) : '–';
}
