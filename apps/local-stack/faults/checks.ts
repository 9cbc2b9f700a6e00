/** What a fault test reads after the race: the producer's unsent report, the DLQ folder, the poller's counters. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FaultStack } from './fault-stack.js';

/** A line of the simulator's `--undelivered-file` (apps/bike-client `writeUndelivered`). */
export interface Unsent {
  errorCode: string;
  errorMessage: string;
  attempts?: number;
  /** The message as it would have been sent (parsed JSON, or the raw text when it was not JSON). */
  message: unknown;
}

/** The producer's undelivered report (NDJSON); absent when nothing was undelivered. */
export async function readUnsent(file: string): Promise<Unsent[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Unsent);
}

/** Files the event source mapping wrote to its on-failure destination (batches it gave up on). */
export async function discardedBatches(fault: FaultStack): Promise<string[]> {
  const root = fault.stack.dirs.onFailure;
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(full);
    }
  };
  await walk(root);
  return found;
}

export async function pollerStats(fault: FaultStack): Promise<Record<string, number>> {
  return fault.stack.supervisor.stats(fault.part('event-source-mapping'));
}
