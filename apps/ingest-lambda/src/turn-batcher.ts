/**
 * Collects the calls made for one key during a turn of the event loop and runs them as one batch. An
 * invocation merges its races concurrently (`RACE_CONCURRENCY`), so their reads and writes of the shared
 * board item all arrive in the same turn: one request serves them all (README § Item design).
 *
 * A batch is sent on `setImmediate`, after every microtask of the turn: a caller that joins a batch is
 * always answered by a request sent after its call, never by one already in flight (a read must see every
 * write that completed before it was asked for).
 */
export class TurnBatcher<T, R> {
  private readonly pending = new Map<
    string,
    Array<{ item: T; resolve: (result: R) => void; reject: (error: unknown) => void }>
  >();

  /**
   * `run` answers a batch's items in order (one result each), or throws to fail them all. `defer` sends a
   * batch later: `queueMicrotask` suits a store whose I/O settles in microtasks (the memory store, whose
   * benchmark advances virtual time at macrotask boundaries).
   */
  constructor(
    private readonly run: (key: string, items: T[]) => Promise<R[]>,
    private readonly defer: (send: () => void) => void = setImmediate,
  ) {}

  add(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let batch = this.pending.get(key);
      if (batch === undefined) {
        batch = [];
        this.pending.set(key, batch);
        this.defer(() => void this.flush(key));
      }
      batch.push({ item, resolve, reject });
    });
  }

  private async flush(key: string): Promise<void> {
    const batch = this.pending.get(key)!;
    this.pending.delete(key);
    try {
      const results = await this.run(
        key,
        batch.map((b) => b.item),
      );
      for (const [i, b] of batch.entries()) b.resolve(results[i]!);
    } catch (error) {
      for (const b of batch) b.reject(error);
    }
  }
}
