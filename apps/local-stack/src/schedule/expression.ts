/**
 * EventBridge schedule expressions → an interval. `rate(value unit)` is supported with AWS's own validation
 * (value a positive integer; unit `minute|hour|day` for 1, `minutes|hours|days` above 1 — `rate(5 minute)` is
 * rejected by AWS, so it is here). `cron(…)` is refused with an error naming the rule: the local stack runs
 * rates only. Pure.
 */
import { ConfigurationError } from '../errors.js';

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** The interval of a `rate(…)` expression, in ms; `where` names the rule in the error. */
export function scheduleIntervalMs(expression: string, where: string): number {
  const trimmed = expression.trim();
  if (/^cron\(/.test(trimmed)) {
    throw new ConfigurationError(
      where,
      `schedule_expression ${JSON.stringify(expression)}: cron expressions are not run locally (only rate(…)); use rate(N minutes|hours|days)`,
    );
  }
  const match = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(trimmed);
  if (match === null) {
    throw new ConfigurationError(
      where,
      `schedule_expression ${JSON.stringify(expression)} is not rate(value unit) with unit minute(s), hour(s) or day(s)`,
    );
  }
  const value = Number(match[1]);
  const unit = match[2]!;
  const singular = !unit.endsWith('s');
  if (value < 1) {
    throw new ConfigurationError(
      where,
      `schedule_expression ${JSON.stringify(expression)}: the value must be a positive integer`,
    );
  }
  if ((value === 1) !== singular) {
    throw new ConfigurationError(
      where,
      `schedule_expression ${JSON.stringify(expression)}: AWS requires a singular unit for 1 and a plural one above 1 (rate(1 minute), rate(5 minutes))`,
    );
  }
  const base = (singular ? unit : unit.slice(0, -1)) as keyof typeof UNIT_MS;
  return value * UNIT_MS[base];
}
