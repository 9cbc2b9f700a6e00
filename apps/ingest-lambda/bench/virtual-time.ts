/**
 * Virtual time for the benchmark: shards run concurrently, as on Lambda, and a wait (the leaderboard's
 * settle delay, a busy publish slot) moves only virtual time — one shard waiting does not hold the others
 * back, and no real time is slept. Everything else (the in-memory store and publisher) settles in
 * microtasks, so time advances to the next timer only once every task is blocked on one.
 */
export class VirtualTime {
  private timers: Array<{ at: number; seq: number; resolve: () => void }> = [];
  private seq = 0;

  constructor(public now: number) {}

  readonly clock = (): number => this.now;

  readonly wait = (ms: number): Promise<void> => this.at(this.now + ms);

  /** Resolves at virtual time `t` (or now, after the tasks already due, if `t` has passed). */
  at(t: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ at: Math.max(t, this.now), seq: this.seq++, resolve });
    });
  }

  /** Runs the tasks to completion, advancing virtual time from timer to timer. */
  async run(tasks: Array<() => Promise<void>>): Promise<void> {
    let settled = false;
    let failure: unknown;
    Promise.all(tasks.map((task) => task())).then(
      () => {
        settled = true;
      },
      (error: unknown) => {
        failure = error;
        settled = true;
      },
    );
    for (;;) {
      // Macrotask boundary: every microtask (all in-memory I/O) has run by now.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (settled) break;
      if (this.timers.length === 0) throw new Error('virtual time: tasks blocked with no timer pending');
      let next = 0;
      for (let i = 1; i < this.timers.length; i++) {
        const a = this.timers[i]!;
        const b = this.timers[next]!;
        if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) next = i;
      }
      const [timer] = this.timers.splice(next, 1);
      this.now = timer!.at;
      timer!.resolve();
    }
    if (failure !== undefined) throw failure;
  }
}
