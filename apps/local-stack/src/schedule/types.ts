/** Shapes of the EventBridge scheduled rules the local stack runs (`aws_cloudwatch_event_rule` + its targets). */

/** One scheduled rule → one Lambda target, as read from the synthesized stack. */
export interface ScheduleConfig {
  /** The rule's `name`. */
  ruleName: string;
  /** `arn:aws:events:<region>:<account>:rule/<name>` (scheduled rules live on the default bus). */
  ruleArn: string;
  /** The rule's `schedule_expression`, as synthesized (e.g. `rate(1 minute)`). */
  expression: string;
  /** The interval the expression means, in ms (the production value; see `StackOptions.scheduleIntervalMs`). */
  intervalMs: number;
  /** The function the target invokes (its `function_name`). */
  functionName: string;
  /** The target's `target_id` (Terraform generates one when absent; locally `<rule>-<resource id>`). */
  targetId: string;
  /**
   * The target's constant `input` (JSON), which EventBridge passes instead of the event. Absent: the function
   * receives the Scheduled Event itself.
   */
  input?: unknown;
}

/** What EventBridge delivers to a target of a scheduled rule (the `aws.events` "Scheduled Event"). */
export interface ScheduledEvent {
  version: '0';
  id: string;
  'detail-type': 'Scheduled Event';
  source: 'aws.events';
  account: string;
  /** The scheduled time, ISO 8601 in UTC without milliseconds (`2026-11-27T20:41:00Z`). */
  time: string;
  region: string;
  /** The rule's ARN. */
  resources: [string];
  detail: Record<string, never>;
}
