/**
 * A small seeded PRNG (mulberry32 + helpers): the same seed replays the same race on any machine. Shared by
 * the simulator, the benchmarks and the tests so that a seed means the same traffic everywhere.
 */

/** 32-bit seed from any integer or string (FNV-1a for strings). */
export function seedFrom(value: number | string): number {
  if (typeof value === 'number') return value >>> 0 || 0x9e3779b9;
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export class Prng {
  /** The 32-bit seed this generator started from. */
  readonly seed: number;
  private state: number;
  private spare: number | undefined;

  constructor(seed: number | string) {
    this.seed = seedFrom(seed);
    this.state = this.seed;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Standard normal (Box–Muller, the spare kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) {
      const spare = this.spare;
      this.spare = undefined;
      return spare;
    }
    const u = 1 - this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A version-4-shaped UUID from this generator (replayable, unlike `crypto.randomUUID`). */
  uuid(): string {
    const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');
    const word = () => Math.floor(this.next() * 0x100000000);
    const a = word();
    const b = word();
    const c = word();
    const d = word();
    return `${hex(a, 8)}-${hex(b >>> 16, 4)}-${hex(0x4000 | (b & 0x0fff), 4)}-${hex(0x8000 | (c >>> 18), 4)}-${hex(c & 0xffff, 4)}${hex(d, 8)}`;
  }

  /** A child generator with its own stream (one per rider, so adding riders does not change the others). */
  fork(label: number | string): Prng {
    return new Prng(seedFrom(`${this.seed}:${label}`));
  }
}
