/**
 * The deployed Lambda bundle, wrapped to fail on purpose: the fault suite points the stack's function at this
 * folder (handler `index.handler`, as synthesized) and the event source mapping invokes it exactly as it
 * invokes the real one. Each invocation either runs the real handler untouched or, as seeded, one of:
 *
 * - `crash-before` — throws before any work (a crash at start-up of the invocation);
 * - `crash-after` — runs the real handler (state written, boards maybe published), then throws: Lambda
 *   retries the whole batch, so every record in it comes back as a duplicate;
 * - `timeout-before` — hangs past the function timeout without doing anything (the mapping gives up on it);
 * - `timeout-after` — does the work, then hangs past the timeout: the work is done but reported failed.
 *
 * The first invocations take the actions listed in `ALLEYCAT_FAULT_FIRST`; after that the draw is a hash of (seed, the batch's first and last event ids, how often this batch was seen), so a run
 * replays the same faults for the same batches. Every injected fault is appended to `ALLEYCAT_FAULT_LOG`
 * (NDJSON) so the test can count them. A real timed-out Lambda is frozen; here the hung promise just
 * sleeps and returns nothing, so no late write can happen after a `timeout-before`.
 */
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { FAULT_ENV, type FaultAction, type InjectedFault } from './types.js';

type Handler = (event: unknown, context: unknown) => Promise<unknown>;
interface KinesisEvent {
  Records: Array<{ eventID: string }>;
}
interface Context {
  getRemainingTimeInMillis(): number;
}

export class InjectedCrashError extends Error {
  constructor(action: FaultAction, batch: string) {
    super(`injected ${action} (fault suite) on batch ${batch}`);
    this.name = 'InjectedCrashError';
  }
}

const env = process.env;
const realBundle = env[FAULT_ENV.realBundle];
if (!realBundle) throw new Error(`${FAULT_ENV.realBundle} must name the real bundle (index.mjs)`);
const real = (await import(pathToFileURL(realBundle).href)) as { handler: Handler };

const seed = env[FAULT_ENV.seed] ?? '1';
const rates: Array<[FaultAction, number]> = [
  ['crash-before', Number(env[FAULT_ENV.crashBefore] ?? 0)],
  ['crash-after', Number(env[FAULT_ENV.crashAfter] ?? 0)],
  ['timeout-before', Number(env[FAULT_ENV.timeoutBefore] ?? 0)],
  ['timeout-after', Number(env[FAULT_ENV.timeoutAfter] ?? 0)],
];
const faultLog = env[FAULT_ENV.log];
const forced = (env[FAULT_ENV.first] ?? '')
  .split(',')
  .map((a) => a.trim())
  .filter((a): a is FaultAction => rates.some(([action]) => action === a));
const seen = new Map<string, number>();

/** A number in [0, 1) from the seed, the batch and its attempt. */
function draw(batch: string, attempt: number): number {
  return createHash('sha256').update(`${seed}|${batch}|${attempt}`).digest().readUInt32BE(0) / 2 ** 32;
}

function pick(batch: string, attempt: number): FaultAction | 'none' {
  let x = draw(batch, attempt);
  for (const [action, rate] of rates) {
    if (x < rate) return action;
    x -= rate;
  }
  return 'none';
}

export async function handler(event: KinesisEvent, context: Context): Promise<unknown> {
  // Faults are injected into Kinesis batches only: the schedule's sweep (a Scheduled Event) runs untouched.
  if (!Array.isArray(event.Records)) return real.handler(event, context);
  const records = event.Records;
  const batch = `${records[0]?.eventID}..${records.at(-1)?.eventID}`;
  const attempt = (seen.get(batch) ?? 0) + 1;
  seen.set(batch, attempt);
  const action = forced.shift() ?? pick(batch, attempt);
  if (action === 'none') return real.handler(event, context);
  if (faultLog) {
    const entry: InjectedFault = { at: Date.now(), action, batch, size: records.length, attempt };
    appendFileSync(faultLog, `${JSON.stringify(entry)}\n`);
  }
  const pastTimeout = () => sleep(context.getRemainingTimeInMillis() + 500);
  switch (action) {
    case 'crash-before':
      throw new InjectedCrashError(action, batch);
    case 'crash-after':
      await real.handler(event, context);
      throw new InjectedCrashError(action, batch);
    case 'timeout-before':
      await pastTimeout();
      return undefined;
    case 'timeout-after': {
      const response = await real.handler(event, context);
      await pastTimeout();
      return response;
    }
  }
}
