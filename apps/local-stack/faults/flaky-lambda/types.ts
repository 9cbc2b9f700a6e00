/** How the fault suite configures the flaky Lambda (environment) and what it records of each injected fault. */
export const FAULT_ENV = {
  /** Absolute path of the real bundle (`apps/ingest-lambda/dist/lambda/index.mjs`). */
  realBundle: 'ALLEYCAT_FAULT_REAL_BUNDLE',
  seed: 'ALLEYCAT_FAULT_SEED',
  /** Probabilities per invocation, each 0–1 (their sum at most 1). */
  crashBefore: 'ALLEYCAT_FAULT_CRASH_BEFORE',
  crashAfter: 'ALLEYCAT_FAULT_CRASH_AFTER',
  timeoutBefore: 'ALLEYCAT_FAULT_TIMEOUT_BEFORE',
  timeoutAfter: 'ALLEYCAT_FAULT_TIMEOUT_AFTER',
  /** Comma-separated actions forced on the first invocations, in order (so each kind surely happens once). */
  first: 'ALLEYCAT_FAULT_FIRST',
  /** NDJSON file, one `InjectedFault` per line. */
  log: 'ALLEYCAT_FAULT_LOG',
} as const;

export type FaultAction = 'crash-before' | 'crash-after' | 'timeout-before' | 'timeout-after';

export interface InjectedFault {
  at: number;
  action: FaultAction;
  /** First and last event id of the batch (`shardId:sequenceNumber`). */
  batch: string;
  size: number;
  /** How often this exact batch had been invoked, this one included. */
  attempt: number;
}
