import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleScheduler } from '../src/schedule/scheduler.js';
import type { ScheduledEvent } from '../src/schedule/types.js';
import { parseStackConfig } from '../src/stack-config.js';
import { type RunningStack, Supervisor, startStack } from '../src/supervisor.js';
import { alive, FREE } from './helpers.js';

const HANDLER = path.join(import.meta.dirname, 'fixtures', 'scheduled-handler.mjs');
const RULE_ARN = 'arn:aws:events:eu-west-1:000000000000:rule/dev-alleycat-sweep';
const FUNCTION = {
  functionName: 'dev-alleycat-ingest',
  functionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:dev-alleycat-ingest',
  memoryMb: 512,
  timeoutSeconds: 30,
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Line {
  phase: 'start' | 'end';
  at: number;
  pid: number;
  id?: string;
  event: ScheduledEvent;
  context: { functionName: string; invokedFunctionArn: string; remainingMs: number };
  env: Record<string, string | undefined>;
}
const lines = async (file: string): Promise<Line[]> =>
  (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

/** Start/end pairs never overlap: each start comes after the previous end. */
function expectOneAtATime(all: Line[]): void {
  for (let i = 0; i < all.length; i++) expect(all[i]!.phase).toBe(i % 2 === 0 ? 'start' : 'end');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-schedule-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('RuleScheduler (in process)', () => {
  it('fires on a fixed grid one interval after start, skips ticks while busy, and counts timeouts and errors', async () => {
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const scheduler = new RuleScheduler({
      schedule: { ruleName: 'r', ruleArn: RULE_ARN, intervalMs: 50 },
      function: { ...FUNCTION, timeoutSeconds: 0.12 },
      region: 'eu-west-1',
      account: '000000000000',
      log: () => {},
      handler: async () => {
        calls += 1;
        started.push(Date.now());
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        try {
          // 1st: slower than two intervals (skips); 2nd: past the 120 ms timeout; 3rd: throws; then quick.
          if (calls === 1) await sleep(110);
          else if (calls === 2) await sleep(200);
          else if (calls === 3) throw new Error('boom');
        } finally {
          running -= 1;
        }
      },
    });
    const t0 = Date.now();
    await scheduler.start();
    await sleep(700);
    const stoppedAt = Date.now();
    await scheduler.stop();
    const stats = scheduler.stats();
    expect(started[0]! - t0).toBeGreaterThanOrEqual(45); // one interval after start, not at start
    expect(maxRunning).toBe(1);
    expect(stats.invocations).toBe(started.length);
    expect(stats.skipped).toBeGreaterThanOrEqual(4); // 1st blocks 2 ticks, 2nd blocks ≥ 3
    expect(stats.timeouts).toBe(1);
    expect(stats.errors).toBe(2); // the timeout and the throw
    expect(stats.inFlight).toBe(0);
    expect(stats.lastDurationMs).toBeGreaterThanOrEqual(0);
    // Grid, not drift: every start is close to a multiple of the interval after start.
    // Grid, not drift: every tick since start was either fired or counted as skipped.
    const ticks = Math.floor((stoppedAt - t0) / 50);
    expect(Math.abs(stats.invocations + stats.skipped - ticks)).toBeLessThanOrEqual(1);
    const after = started.length;
    await sleep(150);
    expect(started.length).toBe(after); // stopped: nothing fires any more
  });

  it('waits out rates longer than a Node timer can hold (rate(30 days) does not fire at once)', async () => {
    let calls = 0;
    const scheduler = new RuleScheduler({
      schedule: { ruleName: 'r', ruleArn: RULE_ARN, intervalMs: 30 * 86_400_000 },
      function: FUNCTION,
      region: 'eu-west-1',
      account: '000000000000',
      handler: async () => {
        calls += 1;
      },
    });
    await scheduler.start();
    await sleep(100);
    await scheduler.stop();
    expect(calls).toBe(0);
    expect(scheduler.stats().skipped).toBe(0);
  });

  it('fails the start when the bundle exports no such handler, naming the bundle and export', async () => {
    const scheduler = new RuleScheduler({
      schedule: { ruleName: 'r', ruleArn: RULE_ARN, intervalMs: 1_000 },
      function: FUNCTION,
      region: 'eu-west-1',
      account: '000000000000',
      handler: { bundle: HANDLER, exportName: 'nope' },
    });
    await expect(scheduler.start()).rejects.toThrow(
      /handler: .*scheduled-handler\.mjs exports no function "nope"/,
    );
  });
});

describe('scheduler part (child process)', () => {
  it('invokes the bundle with the Scheduled Event every interval, never two at once, survives errors, and stops cleanly', async () => {
    const out = path.join(dir, 'part.jsonl');
    const supervisor = new Supervisor();
    const part = await supervisor.start(
      'scheduler',
      {
        schedule: { ruleName: 'dev-alleycat-sweep', ruleArn: RULE_ARN, intervalMs: 150 },
        function: FUNCTION,
        region: 'eu-west-1',
        account: '000000000000',
        bundle: HANDLER,
        exportName: 'handler',
      },
      // Sleeps longer than two intervals and then throws: skips and errors, but the part goes on.
      { SCHEDULED_HANDLER_OUT: out, SCHEDULED_HANDLER_SLEEP_MS: '340', SCHEDULED_HANDLER_THROW: '1' },
      'schedule dev-alleycat-sweep',
    );
    try {
      await sleep(1_600);
      const stats = await supervisor.stats(part);
      const all = await lines(out);
      const starts = all.filter((l) => l.phase === 'start');
      expect(starts.length).toBeGreaterThanOrEqual(2);
      expect(stats['invocations']).toBeGreaterThanOrEqual(starts.length);
      expect(stats['errors']).toBeGreaterThanOrEqual(starts.length - 1);
      expect(stats['skipped']).toBeGreaterThanOrEqual(2);
      expect(stats['lastDurationMs']).toBeGreaterThanOrEqual(300);
      expectOneAtATime(all.slice(0, all.length - (all.length % 2)));
      for (const start of starts) {
        expect(start.pid).toBe(part.pid);
        const e = start.event;
        expect(Object.keys(e)).toEqual([
          'version',
          'id',
          'detail-type',
          'source',
          'account',
          'time',
          'region',
          'resources',
          'detail',
        ]);
        expect(e).toMatchObject({
          version: '0',
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          account: '000000000000',
          region: 'eu-west-1',
          resources: [RULE_ARN],
          detail: {},
        });
        expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(Math.abs(Date.parse(e.time) - start.at)).toBeLessThan(1_500);
        expect(start.context).toMatchObject({
          functionName: FUNCTION.functionName,
          invokedFunctionArn: FUNCTION.functionArn,
        });
        expect(start.context.remainingMs).toBeGreaterThan(29_000);
      }
      expect(new Set(starts.map((s) => s.event.id)).size).toBe(starts.length);
    } finally {
      await supervisor.stopAll();
    }
    expect(alive(part.pid)).toBe(false);
    const settled = (await lines(out)).length;
    await sleep(400);
    expect((await lines(out)).length).toBe(settled);
  });
});

describe('startStack with a scheduled rule', () => {
  let stack: RunningStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('runs the stack’s schedule at scheduleIntervalMs with the environment the event source mapping gets', async () => {
    const out = path.join(dir, 'stack.jsonl');
    process.env['SCHEDULED_HANDLER_OUT'] = out; // parts inherit this process's environment
    const config = parseStackConfig(
      {
        provider: { aws: [{ region: 'eu-west-1' }] },
        resource: {
          aws_lambda_function: {
            ingest_function: {
              function_name: 'dev-alleycat-ingest',
              handler: 'scheduled-handler.handler',
              role: 'arn:aws:iam::000000000000:role/x',
              timeout: 30,
              environment: { variables: { ALLEYCAT_TABLE_NAME: 'dev-alleycat-state' } },
            },
          },
          aws_cloudwatch_event_rule: {
            sweep_rule: { name: 'dev-alleycat-sweep', schedule_expression: 'rate(1 minute)' },
          },
          aws_cloudwatch_event_target: {
            sweep_target: {
              rule: '${aws_cloudwatch_event_rule.sweep_rule.name}',
              target_id: 'ingest-function',
              arn: '${aws_lambda_function.ingest_function.arn}',
            },
          },
          aws_lambda_permission: {
            sweep_permission: {
              action: 'lambda:InvokeFunction',
              function_name: '${aws_lambda_function.ingest_function.arn}',
              principal: 'events.amazonaws.com',
              source_arn: '${aws_cloudwatch_event_rule.sweep_rule.arn}',
            },
          },
        },
      },
      'dev-alleycat',
    );
    try {
      stack = await startStack({
        config,
        ports: FREE,
        dataDir: path.join(dir, 'data'),
        bundle: HANDLER, // its folder and extension; the function's handler string names the file
        scheduleIntervalMs: 200,
      });
    } finally {
      delete process.env['SCHEDULED_HANDLER_OUT'];
    }
    const scheduler = stack.supervisor.running().find((p) => p.name === 'scheduler')!;
    expect(scheduler.restartWith.label).toBe(
      'schedule dev-alleycat-sweep (rate(1 minute)) → dev-alleycat-ingest',
    );
    await sleep(900);
    const starts = (await lines(out)).filter((l) => l.phase === 'start');
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts[0]!.event.resources).toEqual([RULE_ARN]);
    expect(starts[0]!.env).toEqual({
      functionName: 'dev-alleycat-ingest',
      region: 'eu-west-1',
      dynamo: stack.endpoints.dynamodb,
      iot: stack.endpoints.iotData,
      table: 'dev-alleycat-state',
    });
    const pid = scheduler.pid;
    await stack.stop();
    stack = undefined;
    expect(alive(pid)).toBe(false);
  });
});
