/** The rider-count search of `pnpm bench:load`: pure, given a `run` that says whether a point passed. */

/** Doubling from `start` (or halving, if it fails), then bisection between the largest pass and smallest fail. */
export async function searchPath(
  search: { start: number; min: number; max: number; bisect: number },
  run: (riders: number) => Promise<boolean>,
): Promise<number | null> {
  let pass: number | null = null;
  let fail: number | null = null;
  if (await run(search.start)) {
    pass = search.start;
    for (let r = search.start * 2; r <= search.max; r *= 2) {
      if (!(await run(r))) {
        fail = r;
        break;
      }
      pass = r;
    }
  } else {
    fail = search.start;
    for (let r = Math.floor(search.start / 2); r >= search.min; r = Math.floor(r / 2)) {
      if (await run(r)) {
        pass = r;
        break;
      }
      fail = r;
    }
  }
  for (let i = 0; i < search.bisect && pass !== null && fail !== null; i++) {
    const mid = roundRiders((pass + fail) / 2);
    if (mid <= pass || mid >= fail) break;
    if (await run(mid)) pass = mid;
    else fail = mid;
  }
  return pass;
}

/** Round to two significant figures (1,500 rather than 1,437): points read better and repeat across runs. */
export function roundRiders(x: number): number {
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 1);
  return Math.round(x / magnitude) * magnitude;
}
