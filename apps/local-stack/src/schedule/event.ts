/** The event EventBridge hands a Lambda target when a scheduled rule fires. Pure. */
import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from './types.js';

/** `2026-11-27T20:41:00.123Z` → `2026-11-27T20:41:00Z`: EventBridge's `time` has whole seconds. */
export function eventTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

export function scheduledEvent(args: {
  ruleArn: string;
  region: string;
  account: string;
  /** The tick's scheduled time (epoch ms), not when the invocation happened to start. */
  scheduledAtMs: number;
  id?: string;
}): ScheduledEvent {
  return {
    version: '0',
    id: args.id ?? randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: args.account,
    time: eventTime(args.scheduledAtMs),
    region: args.region,
    resources: [args.ruleArn],
    detail: {},
  };
}
