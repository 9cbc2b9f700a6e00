/**
 * EventBridge schedule expressions (scheduled rules), checked as AWS checks them so a bad one fails when the
 * config is read rather than at `terraform apply` or, locally, never. Pure; like the payload parsers it returns
 * a result instead of throwing, and callers turn the error into their own (a config error naming the setting).
 *
 * `rate(value unit)` is checked as strictly as AWS: no white space inside the parentheses or around the
 * expression, the unit in lower case (PutRule answers "Parameter ScheduleExpression is not valid" to
 * `rate( 10 minutes )`, ` rate(10 minutes)` and `rate(10 MINUTES)`, as LocalStack's tests recorded against
 * AWS show), and exactly one space between value and unit: the guide says "separated by white space" and
 * writes one space everywhere; wider white space is not known to pass, so it is refused rather than guessed.
 * `cron(…)` gets the guide's six-field shape check, not a full evaluation; its fields may be separated by
 * any white space, as the guide words it.
 */

/** The interval of each rate unit, by its singular name. */
export const RATE_UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type RateUnit = keyof typeof RATE_UNIT_MS;

/** `rate(value unit)`: every `value` `unit`s, i.e. every `intervalMs`. */
export interface RateSchedule {
  kind: 'rate';
  /** A positive integer. */
  value: number;
  /** Singular, whatever the expression's number. */
  unit: RateUnit;
  intervalMs: number;
}

/** `cron(minutes hours day-of-month month day-of-week year)`, fields as written. */
export interface CronSchedule {
  kind: 'cron';
  fields: {
    minutes: string;
    hours: string;
    dayOfMonth: string;
    month: string;
    dayOfWeek: string;
    year: string;
  };
}

export type Schedule = RateSchedule | CronSchedule;

/** Stable reasons an expression is refused; callers branch on `code`, `message` is for people. */
export const SCHEDULE_ERROR_CODES = [
  /** Neither `rate(…)` nor `cron(…)`. */
  'not_schedule',
  /** `rate(…)` or `cron(…)` with white space before or after it. */
  'white_space',
  /** `rate(…)` whose inside is not two fields separated by one space. */
  'rate_syntax',
  /** The rate value is not a positive integer (or too large to count in ms exactly). */
  'rate_value',
  /** The rate unit is not minute, minutes, hour, hours, day or days. */
  'rate_unit',
  /** Singular unit with a value above 1, or plural with 1: AWS refuses both. */
  'rate_unit_number',
  /** `cron(…)` without exactly six fields. */
  'cron_syntax',
  /** A cron field with characters its position does not allow. */
  'cron_field',
  /** Not exactly one of day-of-month and day-of-week is `?`. */
  'cron_day',
] as const;
export type ScheduleErrorCode = (typeof SCHEDULE_ERROR_CODES)[number];

export interface ScheduleError {
  code: ScheduleErrorCode;
  /** The form the expression took (`undefined` if neither): a caller that runs only rates refuses cron whole. */
  form: Schedule['kind'] | undefined;
  /** Says what is wrong without repeating the expression (callers show it next to their own label). */
  message: string;
}

export type ScheduleParseResult = { ok: true; schedule: Schedule } | { ok: false; error: ScheduleError };

const RATE = /^rate\((.*)\)$/s;
const CRON = /^cron\((.*)\)$/s;
const RATE_UNITS = ['minute', 'minutes', 'hour', 'hours', 'day', 'days'] as const;
/** Allowed characters of each of the six cron fields (EventBridge user guide, "Cron expressions"). */
const CRON_FIELDS = [
  { key: 'minutes', name: 'minutes', chars: /^[0-9,\-*/]+$/ },
  { key: 'hours', name: 'hours', chars: /^[0-9,\-*/]+$/ },
  { key: 'dayOfMonth', name: 'day-of-month', chars: /^([0-9,\-*/LW]+|\?)$/ },
  { key: 'month', name: 'month', chars: /^([0-9,\-*/]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)+$/i },
  { key: 'dayOfWeek', name: 'day-of-week', chars: /^(([0-9,\-*L#]|SUN|MON|TUE|WED|THU|FRI|SAT)+|\?)$/i },
  { key: 'year', name: 'year', chars: /^[0-9,\-*/]+$/ },
] as const;

const fail = (
  code: ScheduleErrorCode,
  form: ScheduleError['form'],
  message: string,
): ScheduleParseResult => ({
  ok: false,
  error: { code, form, message },
});

/** A scheduled rule's `ScheduleExpression`: a rate (with its interval) or a cron (its six fields). */
export function parseScheduleExpression(expression: string): ScheduleParseResult {
  // An unset setting (undefined) from an untyped caller is answered, not thrown, as the doc promises.
  if (typeof expression !== 'string') {
    const got = expression === null ? 'null' : typeof expression;
    return fail('not_schedule', undefined, `must be a string rate(…) or cron(…), got ${got}`);
  }
  const rate = RATE.exec(expression);
  if (rate !== null) return parseRate(rate[1]!);
  const cron = CRON.exec(expression);
  if (cron !== null) return parseCron(cron[1]!);
  const trimmed = expression.trim();
  if (trimmed !== expression && (RATE.test(trimmed) || CRON.test(trimmed))) {
    return fail('white_space', undefined, 'has white space around it, which AWS does not accept');
  }
  return fail(
    'not_schedule',
    undefined,
    'must be rate(value unit) or cron(minutes hours day-of-month month day-of-week year)',
  );
}

function parseRate(inside: string): ScheduleParseResult {
  const fields = /^(\S+) (\S+)$/.exec(inside);
  if (fields === null) {
    return fail(
      'rate_syntax',
      'rate',
      'must be rate(value unit): two fields separated by one space, and no other space',
    );
  }
  const valueText = fields[1]!;
  const unitText = fields[2]!;
  if (!/^\d+$/.test(valueText)) {
    return fail(
      'rate_value',
      'rate',
      `the rate value must be a positive integer, got ${JSON.stringify(valueText)}`,
    );
  }
  const value = Number(valueText);
  if (value < 1) return fail('rate_value', 'rate', `the rate value must be at least 1, got ${valueText}`);
  if (!(RATE_UNITS as readonly string[]).includes(unitText)) {
    return fail(
      'rate_unit',
      'rate',
      `the rate unit must be minute, minutes, hour, hours, day or days, got ${JSON.stringify(unitText)}`,
    );
  }
  const plural = unitText.endsWith('s');
  const unit = (plural ? unitText.slice(0, -1) : unitText) as RateUnit;
  if ((value === 1) === plural) {
    return fail(
      'rate_unit_number',
      'rate',
      `AWS requires a singular unit for 1 and a plural one above 1: rate(${valueText} ${value === 1 ? unit : `${unit}s`}), not rate(${valueText} ${unitText})`,
    );
  }
  const intervalMs = value * RATE_UNIT_MS[unit];
  if (!Number.isSafeInteger(intervalMs)) {
    return fail('rate_value', 'rate', `the rate value ${valueText} is too large`);
  }
  return { ok: true, schedule: { kind: 'rate', value, unit, intervalMs } };
}

function parseCron(inside: string): ScheduleParseResult {
  const fields = inside.trim() === '' ? [] : inside.trim().split(/\s+/);
  if (fields.length !== CRON_FIELDS.length) {
    return fail(
      'cron_syntax',
      'cron',
      `a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`,
    );
  }
  const named: Partial<CronSchedule['fields']> = {};
  for (const [i, field] of CRON_FIELDS.entries()) {
    const text = fields[i]!;
    if (!field.chars.test(text)) {
      return fail('cron_field', 'cron', `cron field ${field.name} ${JSON.stringify(text)} is not valid`);
    }
    named[field.key] = text;
  }
  if ((named.dayOfMonth === '?') === (named.dayOfWeek === '?')) {
    return fail('cron_day', 'cron', 'exactly one of cron day-of-month and day-of-week must be "?"');
  }
  return { ok: true, schedule: { kind: 'cron', fields: named as CronSchedule['fields'] } };
}
