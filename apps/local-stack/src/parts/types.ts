/** The parts of the local stack, each run as its own child process, and what each is told and tells back. */
import type { FunctionIdentity, SourceIdentity } from '../esm/event.js';
import type { EventSourceMappingConfig } from '../esm/poller.js';
import type { TopicRuleConfig } from '../rules/rule-engine.js';
import type { ScheduleConfig } from '../schedule/types.js';
import type { StreamConsumerConfig } from '../stack-config.js';

export interface PartConfigs {
  kinesalite: { port: number; path?: string };
  kinesis: {
    port: number;
    upstream: string;
    limitsEnabled: boolean;
    /** The stack's region and account: a StreamARN naming another is a stream that is not here. */
    region?: string;
    accountId?: string;
    /** The stack's enhanced fan-out consumers, registered from the start. */
    consumers?: StreamConsumerConfig[];
  };
  dynamodb: { port: number; path?: string };
  broker: {
    port: number;
    wsPort: number | null;
    rules: TopicRuleConfig[];
    kinesisEndpoint: string;
    errorsDir: string;
    ruleLogsDir: string;
  };
  /** The rules engine subscribed to an external broker (instead of `broker`). */
  'rules-bridge': {
    brokerUrl: string;
    rules: TopicRuleConfig[];
    kinesisEndpoint: string;
    errorsDir: string;
    ruleLogsDir: string;
  };
  'iot-data': { port: number; brokerUrl: string };
  'event-source-mapping': {
    kinesisEndpoint: string;
    mapping: EventSourceMappingConfig;
    function: FunctionIdentity;
    source: SourceIdentity;
    bundle: string;
    exportName: string;
    checkpointDir: string;
  };
  /** One EventBridge scheduled rule firing its Lambda target (src/schedule/scheduler.ts). */
  scheduler: {
    schedule: Pick<ScheduleConfig, 'ruleName' | 'ruleArn' | 'intervalMs' | 'input'>;
    function: FunctionIdentity;
    region: string;
    account: string;
    bundle: string;
    exportName: string;
  };
}

export type PartName = keyof PartConfigs;

/** Messages a part sends its supervisor over IPC. */
export type PartMessage =
  | { type: 'ready'; urls: Record<string, string> }
  | { type: 'error'; name: string; message: string }
  | { type: 'stats'; stats: Record<string, number> };

/** The environment variable carrying a part's JSON config. */
export const PART_CONFIG_ENV = 'ALLEYCAT_PART_CONFIG';
