import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';

export const run = promisify(execFile);

export async function createStream(client: KinesisClient, name: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (let i = 0; i < 200; i++) {
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`stream ${name} never became ACTIVE`);
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}
