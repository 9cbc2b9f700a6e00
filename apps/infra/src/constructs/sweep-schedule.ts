import { CloudwatchEventRule } from '@cdktf/provider-aws/lib/cloudwatch-event-rule/index.js';
import { CloudwatchEventTarget } from '@cdktf/provider-aws/lib/cloudwatch-event-target/index.js';
import { LambdaPermission } from '@cdktf/provider-aws/lib/lambda-permission/index.js';
import { Construct } from 'constructs';

/** EventBridge's service principal: what invokes a function for a rule. */
export const EVENTS_PRINCIPAL = 'events.amazonaws.com';
/** The rule's only target: the ingest Lambda. */
export const SWEEP_TARGET_ID = 'ingest-function';
/** The statement the permission adds to the function's resource policy. */
export const SWEEP_STATEMENT_ID = 'AllowSweepSchedule';

export interface SweepScheduleProps {
  ruleName: string;
  /** An EventBridge schedule expression, validated by the config (`scheduleExpression`). */
  scheduleExpression: string;
  functionArn: string;
}

/**
 * A timer outside the stream: an EventBridge scheduled rule that invokes the ingest Lambda with the standard
 * scheduled event (`source` `aws.events`, `detail-type` `Scheduled Event`; the target sets no `input`, so the
 * Lambda gets exactly that), and the resource-policy statement that lets this rule, and only it, invoke the
 * function. The event source mapping runs the Lambda only while records arrive; once bikes stop sending, the
 * sweep is what closes idle races and publishes their last leaderboards.
 */
export class SweepSchedule extends Construct {
  readonly rule: CloudwatchEventRule;
  readonly target: CloudwatchEventTarget;
  readonly permission: LambdaPermission;

  constructor(scope: Construct, id: string, props: SweepScheduleProps) {
    super(scope, id);
    this.rule = new CloudwatchEventRule(this, 'rule', {
      name: props.ruleName,
      description:
        'Alleycat sweep: invokes the ingest Lambda to close idle races and publish due leaderboards',
      scheduleExpression: props.scheduleExpression,
    });
    this.rule.overrideLogicalId('sweep_rule');

    this.permission = new LambdaPermission(this, 'permission', {
      statementId: SWEEP_STATEMENT_ID,
      action: 'lambda:InvokeFunction',
      functionName: props.functionArn,
      principal: EVENTS_PRINCIPAL,
      // Scoped to this rule: no other rule (of this or any account) may invoke the function.
      sourceArn: this.rule.arn,
    });
    this.permission.overrideLogicalId('sweep_permission');

    this.target = new CloudwatchEventTarget(this, 'target', {
      rule: this.rule.name,
      targetId: SWEEP_TARGET_ID,
      arn: props.functionArn,
      // Without the permission the first deliveries would fail until it exists.
      dependsOn: [this.permission],
    });
    this.target.overrideLogicalId('sweep_target');
  }
}
