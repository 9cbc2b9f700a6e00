import { describe, expect, it } from 'vitest';
import { scheduleIntervalMs } from '../src/schedule/expression.js';
import { parseStackConfig } from '../src/stack-config.js';

/** A hand-written stack shaped like apps/infra's sweep (rule + target + permission on the ingest function). */
function stack(overrides: { expression?: string; rule?: object; target?: object; permission?: object } = {}) {
  return {
    provider: { aws: [{ region: 'eu-west-1' }] },
    resource: {
      aws_lambda_function: {
        ingest_function: {
          function_name: 'dev-alleycat-ingest',
          handler: 'index.handler',
          role: 'arn:aws:iam::000000000000:role/x',
        },
      },
      aws_cloudwatch_event_rule: {
        sweep_rule: {
          name: 'dev-alleycat-sweep',
          schedule_expression: overrides.expression ?? 'rate(1 minute)',
          ...overrides.rule,
        },
        // An event-pattern rule is not a schedule: neither it nor its target is run.
        pattern_rule: { name: 'on-s3', event_pattern: '{"source":["aws.s3"]}' },
        // A scheduled rule with no target invokes nothing.
        lonely_rule: { name: 'lonely', schedule_expression: 'rate(5 minutes)' },
      },
      aws_cloudwatch_event_target: {
        sweep_target: {
          rule: '${aws_cloudwatch_event_rule.sweep_rule.name}',
          target_id: 'ingest-function',
          arn: '${aws_lambda_function.ingest_function.arn}',
          ...overrides.target,
        },
        pattern_target: {
          rule: '${aws_cloudwatch_event_rule.pattern_rule.name}',
          arn: 'arn:aws:sqs:eu-west-1:000000000000:elsewhere',
        },
      },
      aws_lambda_permission: {
        sweep_permission: {
          statement_id: 'AllowSweepSchedule',
          action: 'lambda:InvokeFunction',
          function_name: '${aws_lambda_function.ingest_function.arn}',
          principal: 'events.amazonaws.com',
          source_arn: '${aws_cloudwatch_event_rule.sweep_rule.arn}',
          ...overrides.permission,
        },
      },
    },
  };
}

describe('scheduled rules in the stack config', () => {
  it('reads a scheduled rule and its Lambda target, resolving references; ignores pattern and targetless rules', () => {
    const config = parseStackConfig(stack(), 's');
    expect(config.schedules).toEqual([
      {
        ruleName: 'dev-alleycat-sweep',
        ruleArn: 'arn:aws:events:eu-west-1:000000000000:rule/dev-alleycat-sweep',
        expression: 'rate(1 minute)',
        intervalMs: 60_000,
        functionName: 'dev-alleycat-ingest',
        targetId: 'ingest-function',
      },
    ]);
  });

  it('reads rate(…) in minutes, hours and days, singular for 1 and plural above, as AWS requires', () => {
    expect(scheduleIntervalMs('rate(1 minute)', 'r')).toBe(60_000);
    expect(scheduleIntervalMs('rate(5 minutes)', 'r')).toBe(300_000);
    expect(scheduleIntervalMs('rate(1 hour)', 'r')).toBe(3_600_000);
    expect(scheduleIntervalMs('rate(12 hours)', 'r')).toBe(43_200_000);
    expect(scheduleIntervalMs('rate(1 day)', 'r')).toBe(86_400_000);
    expect(scheduleIntervalMs('rate(7 days)', 'r')).toBe(604_800_000);
    expect(parseStackConfig(stack({ expression: 'rate(10 minutes)' }), 's').schedules[0]!.intervalMs).toBe(
      600_000,
    );
    for (const bad of ['rate(5 minute)', 'rate(1 minutes)']) {
      expect(() => scheduleIntervalMs(bad, 'aws_cloudwatch_event_rule.r')).toThrow(
        /aws_cloudwatch_event_rule\.r: .*singular unit for 1 and a plural one above 1/,
      );
    }
    for (const bad of ['rate(0 minutes)', 'rate(1.5 hours)', 'rate(2 weeks)', 'every minute', 'rate()']) {
      expect(() => scheduleIntervalMs(bad, 'r')).toThrow(/r: schedule_expression/);
    }
    expect(() => scheduleIntervalMs('rate(1.5 hours)', 'r')).toThrow(
      /r: schedule_expression "rate\(1\.5 hours\)": the rate value must be a positive integer, got "1\.5"/,
    );
    // AWS refuses white space inside the parentheses or around the expression, so the local stack does too.
    for (const bad of ['rate( 5 minutes )', 'rate(5  minutes)']) {
      expect(() => scheduleIntervalMs(bad, 'r')).toThrow(
        /two fields separated by one space, and no other space/,
      );
    }
    expect(() => scheduleIntervalMs(' rate(5 minutes)', 'r')).toThrow(
      /r: schedule_expression " rate\(5 minutes\)": has white space around it/,
    );
  });

  it('names the rule whose expression it cannot run (cron is refused, not guessed)', () => {
    expect(() => parseStackConfig(stack({ expression: 'cron(0/5 * * * ? *)' }), 's')).toThrow(
      /aws_cloudwatch_event_rule\.sweep_rule: schedule_expression "cron\(0\/5 \* \* \* \? \*\)": cron expressions are not run locally/,
    );
    expect(() => parseStackConfig(stack({ expression: 'cron(0 10 * *)' }), 's')).toThrow(
      /aws_cloudwatch_event_rule\.sweep_rule: .*cron expressions are not run locally/,
    );
    expect(() => parseStackConfig(stack({ expression: 'rate(2 fortnights)' }), 's')).toThrow(
      /aws_cloudwatch_event_rule\.sweep_rule: schedule_expression "rate\(2 fortnights\)": the rate unit must be minute, minutes, hour, hours, day or days, got "fortnights"/,
    );
    expect(() => parseStackConfig(stack({ expression: 'hourly' }), 's')).toThrow(
      /aws_cloudwatch_event_rule\.sweep_rule: schedule_expression "hourly" is not rate\(value unit\)/,
    );
  });

  it('skips a disabled rule; refuses targets and permissions that would not work on AWS', () => {
    expect(parseStackConfig(stack({ rule: { state: 'DISABLED' } }), 's').schedules).toEqual([]);
    expect(parseStackConfig(stack({ rule: { is_enabled: false } }), 's').schedules).toEqual([]);
    expect(() =>
      parseStackConfig(stack({ target: { arn: 'arn:aws:sqs:eu-west-1:000000000000:q' } }), 's'),
    ).toThrow(
      /aws_cloudwatch_event_target\.sweep_target: arn .*:q of scheduled rule dev-alleycat-sweep is not a Lambda function/,
    );
    expect(() => parseStackConfig(stack({ permission: { principal: 's3.amazonaws.com' } }), 's')).toThrow(
      /aws_cloudwatch_event_target\.sweep_target: no aws_lambda_permission lets events\.amazonaws\.com invoke dev-alleycat-ingest/,
    );
    expect(() =>
      parseStackConfig(
        stack({ permission: { source_arn: '${aws_cloudwatch_event_rule.lonely_rule.arn}' } }),
        's',
      ),
    ).toThrow(/no aws_lambda_permission/);
    expect(() =>
      parseStackConfig(stack({ target: { input_transformer: { input_template: '{}' } } }), 's'),
    ).toThrow(/aws_cloudwatch_event_target\.sweep_target: input_transformer is not run locally/);
    expect(() => parseStackConfig(stack({ rule: { event_bus_name: 'custom' } }), 's')).toThrow(
      /aws_cloudwatch_event_rule\.sweep_rule: event_bus_name custom: scheduled rules run only on the default event bus/,
    );
  });

  it('passes a target constant input through, and names one that is not JSON', () => {
    const [schedule] = parseStackConfig(stack({ target: { input: '{"sweep":true}' } }), 's').schedules;
    expect(schedule!.input).toEqual({ sweep: true });
    expect(() => parseStackConfig(stack({ target: { input: '{sweep' } }), 's')).toThrow(
      /aws_cloudwatch_event_target\.sweep_target: input is not JSON/,
    );
  });
});
