import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseScheduleExpression, RATE_UNIT_MS, type RateUnit, type ScheduleErrorCode } from './index.js';

/** The error of an expression that must be refused. */
function refused(expression: string) {
  const result = parseScheduleExpression(expression);
  if (result.ok)
    throw new Error(`${JSON.stringify(expression)} was accepted: ${JSON.stringify(result.schedule)}`);
  return result.error;
}

describe('parseScheduleExpression: rate(value unit)', () => {
  it('reads minutes, hours and days, singular for 1 and plural above, into an interval', () => {
    const cases: Array<[string, number, RateUnit, number]> = [
      ['rate(1 minute)', 1, 'minute', 60_000],
      ['rate(5 minutes)', 5, 'minute', 300_000],
      ['rate(1 hour)', 1, 'hour', 3_600_000],
      ['rate(12 hours)', 12, 'hour', 43_200_000],
      ['rate(1 day)', 1, 'day', 86_400_000],
      ['rate(7 days)', 7, 'day', 604_800_000],
    ];
    for (const [expression, value, unit, intervalMs] of cases) {
      expect(parseScheduleExpression(expression)).toEqual({
        ok: true,
        schedule: { kind: 'rate', value, unit, intervalMs },
      });
    }
  });

  it('refuses a singular unit above 1 and a plural one with 1, saying what AWS wants instead', () => {
    expect(refused('rate(5 minute)')).toEqual({
      code: 'rate_unit_number',
      form: 'rate',
      message:
        'AWS requires a singular unit for 1 and a plural one above 1: rate(5 minutes), not rate(5 minute)',
    });
    expect(refused('rate(1 minutes)').message).toMatch(/: rate\(1 minute\), not rate\(1 minutes\)$/);
    expect(refused('rate(1 hours)').code).toBe('rate_unit_number');
    expect(refused('rate(1 days)').code).toBe('rate_unit_number');
    expect(refused('rate(10 hour)').code).toBe('rate_unit_number');
    expect(refused('rate(10 day)').message).toMatch(/rate\(10 days\), not rate\(10 day\)/);
  });

  it('takes any positive integer value with the unit form its number needs, and refuses the other form', () => {
    const units = Object.keys(RATE_UNIT_MS) as RateUnit[];
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom(...units), (value, unit) => {
        const right = parseScheduleExpression(`rate(${value} ${value === 1 ? unit : `${unit}s`})`);
        expect(right).toEqual({
          ok: true,
          schedule: { kind: 'rate', value, unit, intervalMs: value * RATE_UNIT_MS[unit] },
        });
        expect(refused(`rate(${value} ${value === 1 ? `${unit}s` : unit})`).code).toBe('rate_unit_number');
      }),
    );
  });

  it('refuses a value that is not a positive integer: 0, negative, fraction, exponent, word', () => {
    expect(refused('rate(0 minutes)')).toEqual({
      code: 'rate_value',
      form: 'rate',
      message: 'the rate value must be at least 1, got 0',
    });
    expect(refused('rate(00 minutes)').message).toBe('the rate value must be at least 1, got 00');
    const notIntegers: Array<[string, string]> = [
      ['rate(-10 minutes)', '"-10"'],
      ['rate(1.5 minutes)', '"1.5"'],
      ['rate(1.0 minute)', '"1.0"'],
      ['rate(1e3 minutes)', '"1e3"'],
      ['rate(+5 minutes)', '"+5"'],
      ['rate(foo minutes)', '"foo"'],
      ['rate(٥ minutes)', '"٥"'],
    ];
    for (const [expression, got] of notIntegers) {
      expect(refused(expression)).toEqual({
        code: 'rate_value',
        form: 'rate',
        message: `the rate value must be a positive integer, got ${got}`,
      });
    }
  });

  it('refuses a value whose interval in ms is not an exact integer', () => {
    expect(parseScheduleExpression('rate(104249991 days)').ok).toBe(true); // 2^53 - 1 ms is 104,249,991.4 days
    expect(refused('rate(104249992 days)')).toEqual({
      code: 'rate_value',
      form: 'rate',
      message: 'the rate value 104249992 is too large',
    });
    expect(refused(`rate(${'9'.repeat(400)} days)`).code).toBe('rate_value');
  });

  it('refuses units other than minute(s), hour(s) and day(s), including other cases', () => {
    for (const [expression, unit] of [
      ['rate(10 seconds)', 'seconds'],
      ['rate(10 years)', 'years'],
      ['rate(2 weeks)', 'weeks'],
      ['rate(10 minutess)', 'minutess'],
      ['rate(10 MINUTES)', 'MINUTES'],
      ['rate(1 Minute)', 'Minute'],
      ['rate(5 mins)', 'mins'],
    ] as const) {
      expect(refused(expression)).toEqual({
        code: 'rate_unit',
        form: 'rate',
        message: `the rate unit must be minute, minutes, hour, hours, day or days, got "${unit}"`,
      });
    }
  });

  it('takes exactly one space, between value and unit, as AWS does', () => {
    const syntax: ScheduleErrorCode = 'rate_syntax';
    for (const expression of [
      'rate()',
      'rate(10)',
      'rate(minutes)',
      'rate(10minutes)',
      'rate( 10 minutes)',
      'rate(10 minutes )',
      'rate( 10 minutes )',
      'rate(10  minutes)',
      'rate(10\tminutes)',
      'rate(10\nminutes)',
      'rate(5 minutes daily)',
    ]) {
      expect(refused(expression)).toEqual({
        code: syntax,
        form: 'rate',
        message: 'must be rate(value unit): two fields separated by one space, and no other space',
      });
    }
  });

  it('refuses white space around the expression, saying so', () => {
    for (const expression of [
      ' rate(10 minutes)',
      'rate(10 minutes) ',
      '\trate(1 minute)\n',
      ' cron(0 10 * * ? *)',
    ]) {
      expect(refused(expression)).toEqual({
        code: 'white_space',
        form: undefined,
        message: 'has white space around it, which AWS does not accept',
      });
    }
  });
});

describe('parseScheduleExpression: cron(…)', () => {
  it('reads the six fields of the forms the EventBridge guide shows', () => {
    expect(parseScheduleExpression('cron(0/5 * * * ? *)')).toEqual({
      ok: true,
      schedule: {
        kind: 'cron',
        fields: { minutes: '0/5', hours: '*', dayOfMonth: '*', month: '*', dayOfWeek: '?', year: '*' },
      },
    });
    for (const expression of [
      'cron(15 10 ? * MON-FRI *)',
      'cron(0 18 L * ? 2026-2030)',
      'cron(0 8 ? * 6#3 *)',
      'cron(0 8 3W JAN,FEB ? *)',
      'cron(0/30 0-2 ? * mon-fri *)',
    ]) {
      const result = parseScheduleExpression(expression);
      expect(result.ok && result.schedule.kind).toBe('cron');
    }
  });

  it('refuses a cron without six fields, a field with characters its position does not take, and the ?-rule', () => {
    expect(refused('cron(*/5 * * * *)')).toEqual({
      code: 'cron_syntax',
      form: 'cron',
      message: 'a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got 5',
    });
    expect(refused('cron()').message).toMatch(/got 0$/);
    expect(refused('cron(   )').message).toMatch(/got 0$/);
    expect(refused('cron(0 25h * * ? *)')).toEqual({
      code: 'cron_field',
      form: 'cron',
      message: 'cron field hours "25h" is not valid',
    });
    expect(refused('cron(0 10 ? FOO * *)').message).toBe('cron field month "FOO" is not valid');
    for (const expression of ['cron(0 10 * * * *)', 'cron(0 10 ? * ? *)']) {
      expect(refused(expression)).toEqual({
        code: 'cron_day',
        form: 'cron',
        message: 'exactly one of cron day-of-month and day-of-week must be "?"',
      });
    }
  });
});

describe('parseScheduleExpression: neither form', () => {
  it('refuses anything else, naming both forms', () => {
    for (const expression of [
      '',
      'every minute',
      'hourly',
      'rate',
      'rate 5 minutes',
      'RATE(5 minutes)',
      'at(2026-01-01T00:00:00)',
      'cron(0 10 * * ? *',
      'rate(5 minutes',
    ]) {
      expect(refused(expression)).toEqual({
        code: 'not_schedule',
        form: undefined,
        message: 'must be rate(value unit) or cron(minutes hours day-of-month month day-of-week year)',
      });
    }
  });

  it("answers an untyped caller's missing value (an unset setting) instead of throwing", () => {
    for (const value of [undefined, null, 5]) {
      expect(parseScheduleExpression(value as unknown as string)).toEqual({
        ok: false,
        error: expect.objectContaining({
          code: 'not_schedule',
          message: expect.stringContaining(`got ${value === null ? 'null' : typeof value}`),
        }),
      });
    }
  });
});
