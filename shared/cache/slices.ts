// Long loops over many objects (a purge of a host or of everything) in slices: a slice runs for
// at most sliceMs, then the loop yields to the event loop, so requests go on between slices.

/** How long one slice may hold the event loop, in ms. */
export const sliceMs = 2;

/** Calls `fn` for each item, yielding to the event loop (setImmediate) whenever a slice has run sliceMs. */
export async function inSlices<T>(items: readonly T[], fn: (item: T) => void): Promise<void> {
  let start = performance.now();
  for (let i = 0; i < items.length; i++) {
    fn(items[i]);
    // Checking the time costs little next to a purge of one key; every 64 items is plenty.
    if ((i & 63) === 63 && performance.now() - start >= sliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      start = performance.now();
    }
  }
}
