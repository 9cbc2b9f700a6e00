/** @alleycat/local-stack: the parts of the local pipeline, usable one by one or as a whole stack. */
export { type BrokerOptions, type RunningBroker, startBroker } from './broker/broker.js';
export * from './constants.js';
export * from './errors.js';
export * from './esm/event.js';
export {
  type EventSourceMappingConfig,
  EventSourceMappingPoller,
  type PollerOptions,
  type PollerStats,
} from './esm/poller.js';
export { type IotDataPlaneOptions, type RunningIotDataPlane, startIotDataPlane } from './iot/data-plane.js';
export { LOCAL_CREDENTIALS, LOCAL_REGION, localKinesisClient } from './kinesis/client.js';
export { type KinesaliteOptions, type RunningKinesalite, startKinesalite } from './kinesis/kinesalite.js';
export {
  AWS_SHARD_LIMITS,
  type KinesisLimitsOptions,
  KinesisLimitsProxy,
  type KinesisLimitsStats,
  type ShardLimits,
} from './kinesis/limits-proxy.js';
export { KinesisBatcher, type PutOutcome } from './rules/kinesis-batcher.js';
export { type RulesBridgeOptions, startRulesBridge } from './rules/mqtt-bridge.js';
export {
  type ErrorActionMessage,
  RuleEngine,
  type RuleEngineOptions,
  type RuleEngineStats,
  type TopicRuleConfig,
} from './rules/rule-engine.js';
export { evaluateRuleSql, parseRuleSql, type RuleSql } from './rules/sql.js';
export { parseTemplate, renderTemplate } from './rules/template.js';
export * from './stack-config.js';
export {
  type Ports,
  type RunningStack,
  type StackOptions,
  Supervisor,
  startStack,
} from './supervisor.js';
