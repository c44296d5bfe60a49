// Long loops over many objects (a purge of a host or of everything) in slices: a slice runs for
// at most sliceMs, then the loop yields to the event loop, so requests go on between slices.

/** How long one slice may hold the event loop, in ms. */
export const sliceMs = 2;

/**
 * Slices as they ran, recorded when `slices` is set (the purge benchmark sets it): wall time and
 * the process's CPU time, in ms. On a busy machine the wall time of a slice includes the time
 * the process waited for a core; its CPU time is the work.
 */
export const slicing: { slices: { wallMs: number; cpuMs: number }[] | undefined } = { slices: undefined };

/** Calls `fn` for each item, yielding to the event loop (setImmediate) whenever a slice has run sliceMs. */
export async function inSlices<T>(items: readonly T[], fn: (item: T) => void): Promise<void> {
  let start = performance.now();
  let cpu = slicing.slices && process.cpuUsage();
  for (let i = 0; i < items.length; i++) {
    fn(items[i]);
    // Checking the time costs little next to a purge of one key; every 16 items is plenty.
    if ((i & 15) === 15) {
      const ran = performance.now() - start;
      if (ran < sliceMs) continue;
      if (cpu) cpu = record(ran, cpu);
      await new Promise((resolve) => setImmediate(resolve));
      start = performance.now();
    }
  }
  if (cpu) record(performance.now() - start, cpu);
}

function record(wallMs: number, since: NodeJS.CpuUsage): NodeJS.CpuUsage {
  const used = process.cpuUsage(since);
  slicing.slices?.push({ wallMs, cpuMs: (used.user + used.system) / 1000 });
  return process.cpuUsage();
}
