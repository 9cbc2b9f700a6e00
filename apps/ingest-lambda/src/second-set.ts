/**
 * The seconds of one racer already counted, as sorted inclusive ranges `[s0, e0, s1, e1, …]`.
 * Bikes send seconds in order with few gaps, so a racer's whole race is usually one range (a few bytes),
 * whatever its length: that is what lets a board hold a thousand racers in one DynamoDB item.
 */
export class SecondSet {
  /** Flat `[start, end]` pairs, sorted, non-overlapping, non-adjacent. */
  readonly ranges: number[];

  constructor(ranges: number[] = []) {
    this.ranges = ranges;
  }

  /** The earliest second held (Infinity when empty). */
  get first(): number {
    return this.ranges.length === 0 ? Number.POSITIVE_INFINITY : this.ranges[0]!;
  }

  /** Number of ranges (what the stored size grows with). */
  get rangeCount(): number {
    return this.ranges.length >> 1;
  }

  /** Index of the last range whose start is ≤ second, or -1. */
  private floor(second: number): number {
    const r = this.ranges;
    let lo = 0;
    let hi = (r.length >> 1) - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid * 2]! <= second) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  has(second: number): boolean {
    const i = this.floor(second);
    return i >= 0 && second <= this.ranges[i * 2 + 1]!;
  }

  /** Adds `second`; false when it was already there (a duplicate). */
  add(second: number): boolean {
    const r = this.ranges;
    const n = r.length;
    // Fast path: the next second of the latest range (the steady state).
    if (n > 0 && second === r[n - 1]! + 1) {
      r[n - 1] = second;
      return true;
    }
    const i = this.floor(second);
    if (i >= 0 && second <= r[i * 2 + 1]!) return false;
    const joinsLeft = i >= 0 && r[i * 2 + 1]! + 1 === second;
    const right = i + 1;
    const joinsRight = right * 2 < n && r[right * 2]! - 1 === second;
    if (joinsLeft && joinsRight) {
      r[i * 2 + 1] = r[right * 2 + 1]!;
      r.splice(right * 2, 2);
    } else if (joinsLeft) r[i * 2 + 1] = second;
    else if (joinsRight) r[right * 2] = second;
    else r.splice(right * 2, 0, second, second);
    return true;
  }

  /** How many seconds the set holds. */
  size(): number {
    let total = 0;
    for (let i = 0; i < this.ranges.length; i += 2) total += this.ranges[i + 1]! - this.ranges[i]! + 1;
    return total;
  }
}
