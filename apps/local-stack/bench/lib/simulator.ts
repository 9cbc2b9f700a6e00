/**
 * The load: `alleycat simulate` child processes (see simulator-child.ts), one per slice of the field when one
 * process cannot hold it (MQTT: one connection per rider, `MQTT_MAX_RIDERS_PER_PROCESS`), each reporting when
 * every race second started and, at the end, its JSON summary.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CHILD = fileURLToPath(new URL('./simulator-child.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export type LoadPath = 'mqtt' | 'kinesis' | 'kinesis-aggregated';
export const LOAD_PATHS: readonly LoadPath[] = ['mqtt', 'kinesis', 'kinesis-aggregated'];

/** One simulator process: racers `firstRacer … firstRacer + riders − 1`. */
export interface Slice {
  index: number;
  firstRacer: number;
  riders: number;
}

/** The summary `alleycat simulate --json` prints (the fields the benchmarks read). */
export interface SimulatorSummary {
  messages: number;
  delivered: number;
  failed: number;
  retried: number;
  throttled: number;
  requests: number;
  records: number;
  maxLagMs: number;
  undelivered: number;
  undeliveredFile: string | null;
  raceIds: number[];
}

/** What simulator-child.ts tells its parent over IPC. */
export type SimulatorMessage =
  | { type: 'tick'; second: number; at: number }
  /** MQTT: each bike's publish call of `second`, in call order (wall ms). */
  | { type: 'published'; second: number; racerIds: number[]; at: number[] }
  /** Every message is acknowledged; the bikes stay connected until the parent sends `release`. */
  | { type: 'held' }
  | { type: 'usage'; cpuSeconds: number; peakRssMb: number };

/** What the parent tells simulator-child.ts. */
export type SimulatorCommand = { type: 'release' };

/** The environment variable that makes simulator-child.ts hold its bikes at the end (`holdBikes`). */
export const HOLD_BIKES_ENV = 'ALLEYCAT_BENCH_HOLD_BIKES';

export interface SimulatorOptions {
  path: LoadPath;
  riders: number;
  seconds: number;
  classes: number;
  seed: number;
  /** Riders per process (MQTT holds at most 5,000 connections per simulator process). */
  ridersPerProcess: number;
  mqttUrl: string;
  kinesisEndpoint: string;
  streamName: string;
  region: string;
  /** Where each process writes its undelivered messages (NDJSON), `{dir}/undelivered-{slice}.ndjson`. */
  dataDir: string;
  /** Called when a slice starts sending `second` (wall ms). */
  onTick?: (slice: Slice, second: number, at: number) => void;
  /** MQTT: called with each bike's publish call of `second` (wall ms), a second's worth at a time. */
  onPublished?: (second: number, racerIds: readonly number[], at: readonly number[]) => void;
  /**
   * Keep the MQTT bikes connected after their last message is acknowledged until `release()` (or 5 minutes),
   * so that a fleet's disconnection is not measured as part of the last second's latency. `onHeld` says when
   * a slice is there.
   */
  holdBikes?: boolean;
  onHeld?: (slice: Slice) => void;
  /** Called once per process as it ends, with its own CPU seconds (user + system) and peak RSS (MiB). */
  onUsage?: (pid: number, usage: { cpuSeconds: number; peakRssMb: number }) => void;
}

export interface SimulatorFleet {
  slices: Slice[];
  pids: number[];
  /**
   * Settles once every process has exited: per slice, its summary, or why there is none (a process killed
   * before it could print one).
   */
  done: Promise<Array<PromiseSettledResult<SimulatorSummary>>>;
  /** SIGINT (the simulator flushes and prints its summary), then SIGKILL after 20 s. */
  stop(): Promise<void>;
  /** With `holdBikes`: let every process disconnect its bikes and finish. */
  release(): void;
}

export function slicesOf(riders: number, perProcess: number): Slice[] {
  const slices: Slice[] = [];
  for (let first = 1, index = 0; first <= riders; first += perProcess, index++) {
    slices.push({ index, firstRacer: first, riders: Math.min(perProcess, riders - first + 1) });
  }
  return slices;
}

export class SimulatorFailedError extends Error {
  override name = 'SimulatorFailedError';
  readonly slice: number;
  readonly exitCode: number | null;
  constructor(slice: number, exitCode: number | null, stderr: string) {
    super(`simulator ${slice} exited with code ${exitCode} without a summary: ${stderr.trim().slice(-2000)}`);
    this.slice = slice;
    this.exitCode = exitCode;
  }
}

export function startSimulators(options: SimulatorOptions): SimulatorFleet {
  const perProcess = options.path === 'mqtt' ? Math.min(options.ridersPerProcess, 5_000) : options.riders;
  const slices = slicesOf(options.riders, perProcess);
  const children: ChildProcess[] = [];
  const done = Promise.allSettled(
    slices.map((slice) => {
      const args = [
        'simulate',
        '--json',
        `--riders=${slice.riders}`,
        `--first-racer=${slice.firstRacer}`,
        `--seconds=${options.seconds}`,
        `--classes=${options.classes}`,
        `--seed=${options.seed}`,
        `--undelivered-file=${path.join(options.dataDir, `undelivered-${slice.index}.ndjson`)}`,
        ...(options.path === 'mqtt'
          ? ['--via=mqtt', `--mqtt-url=${options.mqttUrl}`, '--qos=1']
          : [
              '--via=kinesis',
              `--kinesis-endpoint=${options.kinesisEndpoint}`,
              `--stream=${options.streamName}`,
              `--region=${options.region}`,
              ...(options.path === 'kinesis-aggregated' ? ['--aggregate'] : []),
            ]),
      ];
      const child = fork(CHILD, args, {
        execArgv: ['--import', TSX],
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          ...(options.holdBikes ? { [HOLD_BIKES_ENV]: '1' } : {}),
        },
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-20_000);
      });
      child.on('message', (message: SimulatorMessage) => {
        if (message.type === 'tick') options.onTick?.(slice, message.second, message.at);
        else if (message.type === 'published')
          options.onPublished?.(message.second, message.racerIds, message.at);
        else if (message.type === 'held') options.onHeld?.(slice);
        else if (message.type === 'usage') options.onUsage?.(child.pid!, message);
      });
      return new Promise<SimulatorSummary>((resolve, reject) => {
        child.once('exit', (code) => {
          try {
            resolve(JSON.parse(stdout) as SimulatorSummary);
          } catch {
            reject(new SimulatorFailedError(slice.index, code, stderr || stdout));
          }
        });
      });
    }),
  );
  const release = () => {
    const command: SimulatorCommand = { type: 'release' };
    for (const child of children) if (child.connected) child.send(command);
  };
  return {
    slices,
    pids: children.map((c) => c.pid!),
    done,
    release,
    stop: async () => {
      release();
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGINT');
          // Thousands of QoS 1 bikes disconnecting on a busy machine can take a while.
          const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
          await exited;
          clearTimeout(timer);
        }),
      );
    },
  };
}
