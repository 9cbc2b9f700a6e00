/** A deadline on a promise, shared by everything in the stack that must not wait for ever. */

/**
 * `{ value }` of `promise`, or undefined when it has not settled within `ms` (a rejection still rejects). The
 * timer is cleared either way; the promise itself runs on.
 */
export async function withinMs<T>(ms: number, promise: Promise<T>): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
