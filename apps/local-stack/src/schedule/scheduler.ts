/**
 * Fires one EventBridge scheduled rule at its Lambda target, as EventBridge does for `rate(…)` rules:
 * every `intervalMs` on a fixed grid from the start (first fire one interval after `start()`; the grid does
 * not drift with invocation times), the event's `time` being the tick's scheduled time.
 *
 * Differences from AWS, on purpose or by simplification (README § Scheduled rules):
 * - one invocation at a time: a tick that comes while the previous invocation is still running is skipped
 *   and counted (`skipped`). AWS invokes asynchronously and may overlap; the handler must not rely on either.
 * - one attempt: an invocation that throws or times out is logged and counted (`errors`, `timeouts`), not
 *   retried (AWS retries an async invocation up to twice, then its on-failure destination/DLQ if any).
 * - a timed-out handler cannot be frozen in Node: the error is counted at the deadline, and the rule stays
 *   busy (ticks skipped) until the handler's promise actually settles.
 */

import { withinMs } from '../deadline.js';
import { type HandlerSource, resolveHandler } from '../esm/bundle-handler.js';
import { type FunctionIdentity, lambdaContext } from '../esm/event.js';
import type { Handler } from '../esm/poller.js';
import { scheduledEvent } from './event.js';
import type { ScheduleConfig } from './types.js';

/** The longest delay a Node timer honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RuleSchedulerOptions {
  schedule: Pick<ScheduleConfig, 'ruleName' | 'ruleArn' | 'intervalMs' | 'input'>;
  handler: HandlerSource;
  function: FunctionIdentity;
  region: string;
  account: string;
  log?: (line: string) => void;
  now?: () => number;
}

export interface RuleSchedulerStats {
  /** Invocations started. */
  invocations: number;
  /** Ticks not fired because the previous invocation was still running. */
  skipped: number;
  /** Invocations that threw, rejected or timed out (timeouts included). */
  errors: number;
  timeouts: number;
  /** How long the last settled invocation took (ms); -1 before the first. */
  lastDurationMs: number;
  /** 1 while an invocation runs. */
  inFlight: number;
}

export class RuleScheduler {
  private readonly counters: RuleSchedulerStats = {
    invocations: 0,
    skipped: 0,
    errors: 0,
    timeouts: 0,
    lastDurationMs: -1,
    inFlight: 0,
  };
  private readonly now: () => number;
  private handler?: Handler;
  private timer?: NodeJS.Timeout;
  private startedAtMs = 0;
  private tick = 0;
  private running = false;
  private current?: Promise<void>;
  private currentDeadlineMs = 0;

  constructor(private readonly options: RuleSchedulerOptions) {
    this.now = options.now ?? Date.now;
    if (!(options.schedule.intervalMs > 0)) {
      throw new RangeError(`${options.schedule.ruleName}: intervalMs must be positive`);
    }
  }

  stats(): RuleSchedulerStats {
    return { ...this.counters };
  }

  /** Loads the handler (a bundle that fails to load fails the start) and arms the first tick. */
  async start(): Promise<void> {
    this.handler = await resolveHandler(this.options.handler);
    this.running = true;
    this.startedAtMs = this.now();
    this.tick = 0;
    this.arm();
  }

  /** Stops firing; waits for a running invocation up to its function deadline. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    const current = this.current;
    if (current === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      current,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, this.currentDeadlineMs - this.now()));
      }),
    ]);
    clearTimeout(timer);
  }

  /** Next grid point strictly after now; ticks missed while the process was stalled count as skipped. */
  private arm(): void {
    if (!this.running) return;
    const { intervalMs } = this.options.schedule;
    const elapsed = this.now() - this.startedAtMs;
    const next = Math.max(this.tick + 1, Math.floor(elapsed / intervalMs) + 1);
    this.counters.skipped += next - this.tick - 1;
    this.tick = next;
    this.wakeAt(this.startedAtMs + next * intervalMs);
  }

  /**
   * Fires at `at`. Node's timers hold at most 2^31 − 1 ms (~24.8 days) and fire after 1 ms when given more,
   * so a `rate(30 days)` rule waits in steps no longer than that.
   */
  private wakeAt(at: number): void {
    const delay = at - this.now();
    this.timer =
      delay > MAX_TIMER_MS
        ? setTimeout(() => this.wakeAt(at), MAX_TIMER_MS)
        : setTimeout(() => this.fire(at), Math.max(0, delay));
  }

  private fire(scheduledAtMs: number): void {
    if (!this.running) return;
    if (this.current !== undefined) {
      this.counters.skipped += 1;
      this.log(`tick ${eventTimeOf(scheduledAtMs)} skipped: the previous invocation is still running`);
    } else {
      this.current = this.invoke(scheduledAtMs).finally(() => {
        this.current = undefined;
      });
    }
    this.arm();
  }

  private async invoke(scheduledAtMs: number): Promise<void> {
    const { schedule } = this.options;
    const event =
      schedule.input !== undefined
        ? structuredClone(schedule.input)
        : scheduledEvent({
            ruleArn: schedule.ruleArn,
            region: this.options.region,
            account: this.options.account,
            scheduledAtMs,
          });
    const timeoutMs = this.options.function.timeoutSeconds * 1000;
    const startedMs = this.now();
    this.currentDeadlineMs = startedMs + timeoutMs;
    const context = lambdaContext(this.options.function, this.currentDeadlineMs, this.now);
    this.counters.invocations += 1;
    this.counters.inFlight = 1;
    const settled = Promise.resolve()
      .then(() => this.handler!(event, context))
      .then(
        () => undefined,
        (error: unknown) => error ?? new Error('handler rejected with no reason'),
      );
    const first = await withinMs(timeoutMs, settled);
    if (first === undefined) {
      this.counters.errors += 1;
      this.counters.timeouts += 1;
      this.log(
        `${context.awsRequestId}: Task timed out after ${this.options.function.timeoutSeconds.toFixed(2)} seconds`,
      );
      const late = await settled;
      if (late !== undefined)
        this.log(`${context.awsRequestId}: after its timeout, handler threw ${describe(late)}`);
    } else if (first.value !== undefined) {
      this.counters.errors += 1;
      this.log(`${context.awsRequestId}: handler threw ${describe(first.value)}`);
    }
    this.counters.lastDurationMs = this.now() - startedMs;
    this.counters.inFlight = 0;
  }

  private log(line: string): void {
    (
      this.options.log ??
      ((l: string) => process.stderr.write(`[scheduler ${this.options.schedule.ruleName}] ${l}\n`))
    )(line);
  }
}

function eventTimeOf(ms: number): string {
  return new Date(ms).toISOString();
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}
