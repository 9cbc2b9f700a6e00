/**
 * EventBridge schedule expressions → an interval. `@alleycat/schema` checks `rate(value unit)` as AWS does
 * (value a positive integer; unit `minute|hour|day` for 1, `minutes|hours|days` above 1; no white space but
 * the one space between value and unit), so an expression AWS would refuse is refused here too. `cron(…)` is
 * refused with an error naming the rule: the local stack runs rates only. Pure.
 */
import { parseScheduleExpression } from '@alleycat/schema';
import { ConfigurationError } from '../errors.js';

/** The interval of a `rate(…)` expression, in ms; `where` names the rule in the error. */
export function scheduleIntervalMs(expression: string, where: string): number {
  const result = parseScheduleExpression(expression);
  if (result.ok && result.schedule.kind === 'rate') return result.schedule.intervalMs;
  const label = `schedule_expression ${JSON.stringify(expression)}`;
  // A cron is refused whole, valid or not: nothing here runs one.
  if (result.ok || result.error.form === 'cron') {
    throw new ConfigurationError(
      where,
      `${label}: cron expressions are not run locally (only rate(…)); use rate(N minutes|hours|days)`,
    );
  }
  throw new ConfigurationError(
    where,
    result.error.code === 'not_schedule'
      ? `${label} is not rate(value unit) with unit minute(s), hour(s) or day(s)`
      : `${label}: ${result.error.message}`,
  );
}
