import { describe, expect, it } from 'vitest';
import { SecondSet } from '../src/second-set.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SecondSet', () => {
  it('keeps an in-order race as one range', () => {
    const set = new SecondSet();
    for (let s = 0; s < 300; s++) expect(set.add(s)).toBe(true);
    expect(set.ranges).toEqual([0, 299]);
    expect(set.size()).toBe(300);
  });

  it('reports duplicates and joins ranges across a filled gap', () => {
    const set = new SecondSet();
    expect(set.add(5)).toBe(true);
    expect(set.add(7)).toBe(true);
    expect(set.add(5)).toBe(false);
    expect(set.ranges).toEqual([5, 5, 7, 7]);
    expect(set.add(6)).toBe(true);
    expect(set.ranges).toEqual([5, 7]);
    expect(set.add(4)).toBe(true);
    expect(set.add(0)).toBe(true);
    expect(set.ranges).toEqual([0, 0, 4, 7]);
    expect(set.has(3)).toBe(false);
    expect(set.has(4)).toBe(true);
    expect(set.has(8)).toBe(false);
  });

  it('agrees with a plain Set under random order, duplicates and gaps', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = prng(seed);
      const set = new SecondSet();
      const reference = new Set<number>();
      for (let i = 0; i < 2_000; i++) {
        const second = Math.floor(random() * 400);
        expect(set.add(second)).toBe(!reference.has(second));
        reference.add(second);
      }
      for (let s = 0; s < 400; s++) expect(set.has(s)).toBe(reference.has(s));
      expect(set.size()).toBe(reference.size);
      const r = set.ranges;
      for (let i = 2; i < r.length; i += 2) expect(r[i]!).toBeGreaterThan(r[i - 1]! + 1);
    }
  });
});
