/** How `pnpm bench:load` prints its points: a progress block per point, a Markdown table for BENCHMARKS.md. */
import type { PointResult } from '../load-point.js';

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => (Number.isFinite(x) ? n(x) : '–');
const PATH_LABEL: Record<string, string> = {
  mqtt: 'MQTT (QoS 1, broker + rule)',
  kinesis: 'Kinesis PutRecords',
  'kinesis-aggregated': 'Kinesis PutRecords, KPL-aggregated',
};

/** Every part's CPU and peak memory in one cell: `41 % · 1.2 s · 120 MB`. */
function usageCell(result: PointResult, part: string): string {
  const usage = result.parts.find((p) => p.part === part);
  if (usage === undefined) return '–';
  return `${usage.cpuPercentOfOneCore} % · ${usage.cpuSeconds} s · ${usage.peakRssMb} MB`;
}

export const TABLE_PARTS = [
  'broker+rule',
  'kinesis+limits',
  'dynamodb',
  'iot-data',
  'esm+lambda',
  'simulator',
  'bench listener',
] as const;

/**
 * How often a race's optimistic write lost to another writer (another shard, a retry): each loss is a read,
 * merge and write again, and on a stream of several shards it is what grows first with the rider count.
 */
export function raceStateLine(metrics: Record<string, number>): string {
  const merged = metrics['RacesUpdated'] ?? 0;
  const lost = metrics['StateConflicts'] ?? 0;
  const share = merged + lost > 0 ? Math.round((100 * lost) / (merged + lost)) : 0;
  return `  race state: ${n(merged)} race merges written, ${n(lost)} read and merged again after losing a condition (${share} % of attempts); ${n(metrics['StateWrites'] ?? 0)} DynamoDB writes (${n(metrics['StateWritesLost'] ?? 0)} lost, ${n(metrics['BestWrites'] ?? 0)} bests); ${n(metrics['BatchItemFailures'] ?? 0)} records handed back`;
}

/** A few lines about one point, printed as soon as it ends. */
export function renderPoint(r: PointResult): string {
  const a = r.accountedFor;
  return [
    `  ${r.pass ? 'PASS' : 'FAIL'} ${r.path} ${n(r.riders)} riders × ${r.seconds} s, ${r.shards} shards${r.stoppedEarlyAfterS === null ? '' : ` (stopped after ${r.stoppedEarlyAfterS} s)`}`,
    `  sent ${n(r.sent)}, delivered ${n(r.delivered)}, counted ${n(r.counted)} (Lambda's SecondsCounted ${n(r.lambdaSecondsCounted)}), ${r.stoppedEarlyAfterS === null ? 'lost' : "not on a board after the early stop (a race cut short has no closing round; compare the Lambda's count)"} ${n(r.lost)}; on boards ${n(r.onBoards)}, final totals wrong for ${r.boardMismatches} racers; set aside: ${a.undelivered} undelivered, ${a.ruleErrorActions} error actions, ${a.invalid} invalid, ${a.dlqFiles} DLQ files${a.unsentInKilledSimulators > 0 ? `, ${n(a.unsentInKilledSimulators)} built but unsent in simulators killed at the early stop` : ''}; ${n(r.throttledRetried)} throttled and retried, ${n(r.duplicatesCounted)} duplicates absorbed`,
    `  publish → leaderboard p50 ${ms(r.latencyMs.p50)} ms, p90 ${ms(r.latencyMs.p90)} ms, p99 ${ms(r.latencyMs.p99)} ms, max ${ms(r.latencyMs.max)} ms (from race second ${r.latencyMs.warmupSeconds}; with the warm-up p99 ${ms(r.latencyMs.p99WithWarmup)} ms${r.latencyMs.timedFromPublish > 0 ? `; from each bike's publish call, ${r.latencyMs.timedFromPublish.toLocaleString('en-US')} pairs; from the second's tick p50 ${ms(r.latencyMs.p50FromTick)}, p99 ${ms(r.latencyMs.p99FromTick)} ms` : ''}); lag growth ${ms(r.lagGrowthMs)} ms; simulator clock ≤ ${r.simulatorMaxTickLagMs} ms late; load average ${r.loadAverage.start} → ${r.loadAverage.end}`,
    `  stages: Kinesis arrival → invocation mean ${ms(r.stages.kinesisArrivalToInvokeMs.mean)} ms (max ${ms(r.stages.kinesisArrivalToInvokeMs.max ?? Number.NaN)}); handler mean ${ms(r.stages.handlerMs.mean)} ms over ${r.stages.handlerMs.invocations} invocations; Lambda publish → board received p50 ${ms(r.stages.lambdaPublishToBoardReceivedMs.p50)} ms, p99 ${ms(r.stages.lambdaPublishToBoardReceivedMs.p99)} ms`,
    raceStateLine(r.lambdaMetrics),
    `  CPU (% of one core · user+sys s) and peak RSS: ${r.parts.map((p) => `${p.part} ${p.cpuPercentOfOneCore} % · ${p.cpuSeconds} s · ${p.peakRssMb} MB`).join('; ')}`,
    ...r.failures.map((f) => `  ✗ ${f}`),
  ].join('\n');
}

/** One Markdown table per path: a row per tested point (in the order tested), then the largest sustained. */
export function renderTable(results: PointResult[], largest: Record<string, number | null>): string {
  const header = [
    'riders',
    'shards',
    'result',
    'sent',
    'counted',
    'lost',
    'p50 ms',
    'p99 ms',
    'load avg',
    ...TABLE_PARTS.map((p) => `${p} (CPU % · s · peak RSS)`),
  ];
  const sections: string[] = [];
  for (const path of [...new Set(results.map((r) => r.path))]) {
    const rows = results
      .filter((r) => r.path === path)
      .map((r) => [
        n(r.riders),
        String(r.shards),
        r.pass
          ? 'pass'
          : `FAIL${r.stoppedEarlyAfterS === null ? '' : ` (stopped at ${r.stoppedEarlyAfterS} s)`}: ${r.failures[0]?.replace(/^stopped early: /, '') ?? ''}`,
        n(r.sent),
        n(r.counted),
        n(r.lost),
        ms(r.latencyMs.p50),
        ms(r.latencyMs.p99),
        `${r.loadAverage.start} → ${r.loadAverage.end}`,
        ...TABLE_PARTS.map((p) => usageCell(r, p)),
      ]);
    const best = largest[path];
    sections.push(
      [
        `### ${PATH_LABEL[path] ?? path}: largest sustained ${best === null || best === undefined ? 'none of the points tested' : `${n(best)} riders`}`,
        '',
        `| ${header.join(' | ')} |`,
        `|${header.map(() => '---').join('|')}|`,
        ...rows.map((row) => `| ${row.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`),
      ].join('\n'),
    );
  }
  return sections.join('\n\n');
}
