/** Test doubles for the processor's edges: a logger and metrics that record, and fault injection. */
import type { LeaderboardMessage } from '@alleycat/schema';
import type { RaceBoard } from '../../src/board.js';
import { MemoryStateStore } from '../../src/memory-store.js';
import type { LoggerLike, MetricsLike } from '../../src/processor.js';
import type { BoardExpectation, OpenRace } from '../../src/state-store.js';
import type { LeaderboardPublisher } from '../../src/types.js';

export class RecordingLogger implements LoggerLike {
  readonly entries: Array<{ level: string; message: string; extra: Record<string, unknown> }> = [];
  readonly keys: Record<string, unknown> = {};
  private log(level: string, message: string, extra: Array<Record<string, unknown>>): void {
    this.entries.push({ level, message, extra: Object.assign({ ...this.keys }, ...extra) });
  }
  debug(message: string, ...extra: Array<Record<string, unknown>>): void {
    this.log('debug', message, extra);
  }
  info(message: string, ...extra: Array<Record<string, unknown>>): void {
    this.log('info', message, extra);
  }
  warn(message: string, ...extra: Array<Record<string, unknown>>): void {
    this.log('warn', message, extra);
  }
  error(message: string, ...extra: Array<Record<string, unknown>>): void {
    this.log('error', message, extra);
  }
  appendKeys(keys: Record<string, unknown>): void {
    Object.assign(this.keys, keys);
  }
  removeKeys(keys: string[]): void {
    for (const k of keys) delete this.keys[k];
  }
}

export class RecordingMetrics implements MetricsLike {
  readonly values = new Map<string, number>();
  addMetric(name: string, _unit: string, value: number): void {
    this.values.set(name, (this.values.get(name) ?? 0) + value);
  }
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }
}

/** An SDK-shaped throttling error (what DynamoDB or IoT send under load). */
export function throttlingError(): Error {
  return Object.assign(new Error('Rate exceeded'), {
    name: 'ThrottlingException',
    $fault: 'client',
    $retryable: { throttling: true },
    $metadata: { httpStatusCode: 400 },
  });
}

export function accessDeniedError(): Error {
  return Object.assign(new Error('not authorized'), {
    name: 'ForbiddenException',
    $fault: 'client',
    $metadata: { httpStatusCode: 403 },
  });
}

/** A memory store whose next calls can be made to fail. */
export class FaultyStore extends MemoryStateStore {
  private faults: Array<{ op: string; error: Error; raceId?: number }> = [];

  failNext(op: 'saveBoard' | 'loadBoard' | 'updateBest' | 'markOpen', error: Error, raceId?: number): void {
    this.faults.push(raceId === undefined ? { op, error } : { op, error, raceId });
  }

  private stalls = new Map<string, Promise<void>>();

  /** The next calls of `op` wait for `until` (a hung dependency), then go on as usual. */
  stall(op: 'loadBoard' | 'saveBoard', until: Promise<void>): void {
    this.stalls.set(op, until);
  }

  private take(op: string, raceId?: number): void {
    const i = this.faults.findIndex((f) => f.op === op && (f.raceId === undefined || f.raceId === raceId));
    if (i >= 0) {
      const [fault] = this.faults.splice(i, 1);
      throw fault!.error;
    }
  }

  override async loadBoard(raceId: number): Promise<RaceBoard | undefined> {
    await this.stalls.get('loadBoard');
    this.take('loadBoard', raceId);
    return super.loadBoard(raceId);
  }

  override async saveBoard(board: RaceBoard, expected: BoardExpectation): Promise<boolean> {
    await this.stalls.get('saveBoard');
    this.take('saveBoard', board.raceId);
    return super.saveBoard(board, expected);
  }

  override async markOpen(race: OpenRace): Promise<void> {
    this.take('markOpen', race.raceId);
    return super.markOpen(race);
  }

  override async updateBest(
    racerId: number,
    classId: number,
    total: number,
    raceId: number,
  ): Promise<boolean> {
    this.take('updateBest', raceId);
    return super.updateBest(racerId, classId, total, raceId);
  }
}

export class FaultyPublisher implements LeaderboardPublisher {
  readonly published: Array<{ topic: string; message: LeaderboardMessage }> = [];
  private failures: Error[] = [];
  failNext(error: Error): void {
    this.failures.push(error);
  }
  async publish(topic: string, message: LeaderboardMessage): Promise<void> {
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    this.published.push({ topic, message });
  }
}
