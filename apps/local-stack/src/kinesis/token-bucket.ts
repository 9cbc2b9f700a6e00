/**
 * A token bucket holding at most one second of its rate, refilled continuously: what a Kinesis shard's
 * per-second limits allow (a full second's burst, then the steady rate). Pure; time comes from the caller.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  private tokens: number;
  private updatedAtMs: number;

  constructor(ratePerSecond: number, nowMs: number) {
    this.ratePerSecond = ratePerSecond;
    this.tokens = ratePerSecond;
    this.updatedAtMs = nowMs;
  }

  /** Tokens available at `nowMs` (may be negative after `charge`). */
  available(nowMs: number): number {
    const elapsed = Math.max(0, nowMs - this.updatedAtMs);
    this.tokens = Math.min(this.ratePerSecond, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    this.updatedAtMs = nowMs;
    return this.tokens;
  }

  /** Takes `amount` tokens if that many are available; otherwise takes none. */
  tryTake(amount: number, nowMs: number): boolean {
    if (this.available(nowMs) < amount) return false;
    this.tokens -= amount;
    return true;
  }

  /** Takes `amount` tokens unconditionally: the bucket may go into debt (a large read throttles what follows). */
  charge(amount: number, nowMs: number): void {
    this.available(nowMs);
    this.tokens -= amount;
  }
}
