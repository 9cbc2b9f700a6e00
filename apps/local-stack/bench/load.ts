/**
 * `pnpm bench:load`: the largest number of riders this machine sustains at 1 Hz, per path, with nothing lost
 * and p99 end-to-end latency (simulator sends a second → a leaderboard showing it is received) within the
 * limit — MQTT (QoS 1 bikes → broker + rule → Kinesis), Kinesis (the simulator's PutRecords) plain and
 * KPL-aggregated — each through the limits layer, the event source mapping, the real Lambda bundle and
 * DynamoDB, with the CPU and peak memory of every part. See load-point.ts for what one point measures and when
 * it passes.
 *
 * Search, per path: riders double from --start while points pass (up to --max); if --start fails, they halve
 * down to --min; then --bisect points between the largest pass and the smallest failure. A point stops early
 * (and fails) once its p99 can no longer be met or the simulator falls behind its clock.
 *
 *   pnpm bench:load [--seconds 120] [--paths …] [--start 1000] [--budget-min N] …   (--help lists every option)
 * Results: a table per path on stdout (Markdown, for BENCHMARKS.md) and every figure in a JSON file
 * (default .local-stack/bench-load/, git-ignored), written after each point so an interrupted search keeps them.
 */
import '../src/cli/quiet-sdk-warning.js'; // the AWS SDK's Node 22 notice is not this benchmark's news
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { searchPath } from './lib/search.js';
import { LOAD_PATHS, type LoadPath } from './lib/simulator.js';
import { LAMBDA_BUNDLE_FILE, PACKAGE_DIR, REPO_DIR } from './lib/stack.js';
import { renderPoint, renderTable } from './lib/table.js';
import { type PointOptions, type PointResult, runPoint } from './load-point.js';

const HELP = `pnpm bench:load [options]            (from the repo root: pnpm bench:load -- [options])

Per path, the largest rider count sustained at 1 Hz for --seconds with nothing lost and p99 publish → leaderboard
≤ --max-p99-ms, with CPU and peak RSS of every part. A Markdown table on stdout, every figure in a JSON file.

  --paths ${LOAD_PATHS.join(',')}   which paths, in this order
  --seconds 120             race length of each point
  --start 1000 --min 125 --max 64000 --bisect 2
                            search: double from --start while points pass (halve to --min if it fails), then
                            --bisect points between the largest pass and the smallest failure
  --riders 1000,3000        fixed points instead of the search
  --budget-min N            per path: start no new point after N minutes (the largest is then a lower bound)
  --max-p99-ms 1000         p99 limit (race seconds from --warmup-s 10 on: a fresh stack's first seconds drain
                            its cold start, ~1.5–3 s falling to steady state within ~8–10 s in every run)
  --max-lag-growth-ms 1000  mean latency of the last third of the race minus the first third
  --no-early-stop           run every point to its end even once it has certainly failed
  --drain-s 20              after the race, how long the last seconds may take to reach the boards
  --classes 6 --seed 1      the simulated field
  --riders-per-process 5000 MQTT bikes per simulator process (at most 5,000)
  --shards N                stream shards (default: planCapacity for the riders and path)
  --no-limits               without the Kinesis limits layer's throttling
  --publish-settle-ms N     the Lambda's ALLEYCAT_PUBLISH_SETTLE_MS (0-900; default: the stack's, i.e. the
                            Lambda's 400) — as a stack synthesized with it set would deploy
  --stack-file cdk.tf.json  another synthesized stack (default: test/fixtures/cdk.tf.json)
  --out FILE                the JSON file (default .local-stack/bench-load/load-<time>.json)
`;

class OutOfBudget extends Error {
  override name = 'OutOfBudget';
}

class UsageError extends Error {
  override name = 'UsageError';
}

const OPTIONS = {
  seconds: { type: 'string', default: '120' },
  paths: { type: 'string', default: LOAD_PATHS.join(',') },
  start: { type: 'string', default: '1000' },
  min: { type: 'string', default: '125' },
  max: { type: 'string', default: '64000' },
  bisect: { type: 'string', default: '2' },
  riders: { type: 'string' },
  'max-p99-ms': { type: 'string', default: '1000' },
  'drain-s': { type: 'string', default: '20' },
  'warmup-s': { type: 'string', default: '10' },
  'max-lag-growth-ms': { type: 'string', default: '1000' },
  classes: { type: 'string', default: '6' },
  seed: { type: 'string', default: '1' },
  'riders-per-process': { type: 'string', default: '5000' },
  shards: { type: 'string' },
  'no-limits': { type: 'boolean', default: false },
  'publish-settle-ms': { type: 'string' },
  'no-early-stop': { type: 'boolean', default: false },
  'stack-file': { type: 'string' },
  out: { type: 'string' },
  'budget-min': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>;
try {
  parsed = parseArgs({ options: OPTIONS });
} catch (error) {
  // An unknown option or a missing value is a usage error (exit 2), not a stack trace.
  process.stderr.write(`bench:load: ${(error as Error).message.split('\n')[0]} (see --help)\n`);
  process.exit(2);
}
const flags = parsed.values;

function integer(flag: string, min = 1): number {
  const raw = (flags as Record<string, unknown>)[flag] as string;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new UsageError(`--${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

async function main(): Promise<number> {
  if (flags.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const paths = flags.paths.split(',').map((p) => p.trim());
  for (const p of paths) {
    if (!LOAD_PATHS.includes(p as LoadPath))
      throw new UsageError(`--paths: unknown path "${p}" (expected ${LOAD_PATHS.join(', ')})`);
  }
  const fixed = flags.riders?.split(',').map((r) => {
    const n = Number(r);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--riders: expected integers ≥ 1, got "${r}"`);
    return n;
  });
  const base: Omit<PointOptions, 'path' | 'riders'> = {
    seconds: integer('seconds', 2),
    classes: integer('classes'),
    seed: integer('seed', 0),
    maxP99Ms: integer('max-p99-ms'),
    drainMs: integer('drain-s', 0) * 1000,
    ridersPerProcess: integer('riders-per-process'),
    limitsEnabled: !flags['no-limits'],
    maxTickLagMs: 1000,
    maxLagGrowthMs: integer('max-lag-growth-ms'),
    warmupSeconds: integer('warmup-s', 0),
    earlyStop: !flags['no-early-stop'],
    ...(flags.shards ? { shards: integer('shards') } : {}),
    ...(flags['publish-settle-ms'] ? { publishSettleMs: integer('publish-settle-ms', 0) } : {}),
    ...(flags['stack-file'] ? { stackFile: flags['stack-file'] } : {}),
    log: (line) => process.stdout.write(`${line}\n`),
  };
  const search = {
    start: integer('start'),
    min: integer('min'),
    max: integer('max'),
    bisect: integer('bisect', 0),
  };
  const out =
    flags.out ??
    path.join(
      PACKAGE_DIR,
      '.local-stack',
      'bench-load',
      `load-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    );
  await mkdir(path.dirname(out), { recursive: true });

  const startedAt = new Date();
  const source = sourceVersion();
  const stale = await bundleIsStale();
  if (stale) process.stderr.write(`bench:load: warning: ${stale}\n`);
  const results: PointResult[] = [];
  const largest: Record<string, number | null> = {};
  /** Paths whose search ran out of --budget-min (their largest is a lower bound). */
  const cutShort: string[] = [];
  const save = () =>
    writeFile(
      out,
      `${JSON.stringify(
        {
          command: `pnpm bench:load ${process.argv.slice(2).join(' ')}`.trim(),
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          source,
          ...(stale ? { warning: stale } : {}),
          machine: {
            cpus: os.cpus().length,
            cpuModel: os.cpus()[0]?.model,
            memoryGb: Math.round(os.totalmem() / 2 ** 30),
            loadAverage: os.loadavg(),
            node: process.version,
            note: 'shared, noisy 2-core machine: absolute figures',
          },
          criteria: {
            rate: '1 message per rider per second',
            seconds: base.seconds,
            maxP99Ms: base.maxP99Ms,
            maxTickLagMs: base.maxTickLagMs,
            maxLagGrowthMs: base.maxLagGrowthMs,
            latencyPercentilesFromSecond: base.warmupSeconds,
            limitsEnforced: base.limitsEnabled,
            publishSettleMs: base.publishSettleMs ?? null,
          },
          search: fixed
            ? { fixedPoints: fixed }
            : { ...search, budgetMinPerPath: flags['budget-min'] ? Number(flags['budget-min']) : null },
          largestSustained: largest,
          searchCutShortByBudget: cutShort,
          points: results,
        },
        null,
        2,
      )}\n`,
    );

  process.stdout.write(
    `bench:load — ${base.seconds} s at 1 Hz per point, pass = nothing lost, p99 ≤ ${base.maxP99Ms} ms from race second ${base.warmupSeconds}; results → ${path.relative(process.cwd(), out)}\n`,
  );
  const budgetMs = flags['budget-min'] ? integer('budget-min') * 60_000 : Number.POSITIVE_INFINITY;
  for (const p of paths as LoadPath[]) {
    const pathStarted = Date.now();
    const run = async (riders: number): Promise<boolean> => {
      if (Date.now() - pathStarted > budgetMs) throw new OutOfBudget();
      process.stdout.write(`${p} ${riders} riders…\n`);
      const result = await runPoint({ ...base, path: p, riders });
      results.push(result);
      process.stdout.write(`${renderPoint(result)}\n`);
      await save();
      return result.pass;
    };
    try {
      largest[p] = fixed ? await fixedPoints(fixed, run) : await searchPath(search, run);
    } catch (error) {
      if (!(error instanceof OutOfBudget)) throw error;
      const passed = results.filter((r) => r.path === p && r.pass).map((r) => r.riders);
      largest[p] = passed.length > 0 ? Math.max(...passed) : null;
      cutShort.push(p);
      process.stdout.write(`${p}: search cut short by --budget-min ${flags['budget-min']}\n`);
    }
    await save();
    process.stdout.write(
      `${p}: largest sustained ${largest[p] ?? 'none of the points tested'}${cutShort.includes(p) ? ' (search cut short by the time budget)' : ''}\n\n`,
    );
  }

  process.stdout.write(
    `\n## bench:load — ${base.seconds} s per point, 1 Hz, p99 ≤ ${base.maxP99Ms} ms after a ${base.warmupSeconds} s warm-up, limits ${base.limitsEnabled ? 'enforced' : 'OFF'} (${os.cpus().length}-core shared machine, absolute figures)\n\n`,
  );
  process.stdout.write(`${renderTable(results, largest)}\n`);
  const minutes = (Date.now() - startedAt.getTime()) / 60_000;
  process.stdout.write(`\nsearch took ${minutes.toFixed(1)} min; every figure in ${out}\n`);
  return 0;
}

async function fixedPoints(riders: number[], run: (r: number) => Promise<boolean>): Promise<number | null> {
  let best: number | null = null;
  for (const r of riders) if ((await run(r)) && (best === null || r > best)) best = r;
  return best;
}

/** The commit measured (and whether the checkout had changes): figures are only as good as their source. */
function sourceVersion(): { commit: string; dirtyFiles: number } | null {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_DIR, encoding: 'utf8' }).trim();
    return {
      commit: git('rev-parse', 'HEAD'),
      dirtyFiles: git('status', '--porcelain').split('\n').filter(Boolean).length,
    };
  } catch {
    return null;
  }
}

/** Whether the Lambda bundle is older than its sources (`pnpm bench:load` from the root builds it first). */
async function bundleIsStale(): Promise<string | undefined> {
  const built = await stat(LAMBDA_BUNDLE_FILE).catch(() => undefined);
  if (built === undefined)
    return `no Lambda bundle at ${LAMBDA_BUNDLE_FILE}: run \`pnpm --filter "@alleycat/ingest-lambda..." build\``;
  const src = path.join(REPO_DIR, 'apps', 'ingest-lambda', 'src');
  const files = await readdir(src, { recursive: true }).catch(() => [] as string[]);
  for (const file of files) {
    const { mtimeMs } = await stat(path.join(src, file));
    if (mtimeMs > built.mtimeMs)
      return `the Lambda bundle is older than ${path.join('apps/ingest-lambda/src', file)}: run \`pnpm --filter "@alleycat/ingest-lambda..." build\` (the root \`pnpm bench:load\` does)`;
  }
  return undefined;
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) return;
  interrupted = true;
  process.stdout.write('\nSIGINT: stopping (the stack parts and simulators are stopped by process id)…\n');
  // Parts and simulators are this process's children: the supervisor kills them on exit, and the simulators
  // exit when their IPC channel to this process closes.
  process.exit(130);
});

try {
  process.exit(await main());
} catch (error) {
  const e = error as Error;
  process.stderr.write(`bench:load: ${e.name === 'UsageError' ? '' : `${e.name}: `}${e.message}\n`);
  process.exit(e.name === 'UsageError' ? 2 : 1);
}
