// The memory tier is bounded by what its objects really cost: for several object shapes, the
// bytes the store accounts per object cover the external memory (bodies) and the live heap the
// object takes (measured in a child process after full garbage collections) at the heap's
// footprint (memory-store.ts: V8 holds about twice the live heap), without overstating it much.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helperScript, runChild } from '../helpers/disk-child.js';
import { heapFootprint } from '../../shared/cache/memory-store.js';

test('accounted bytes per object cover its real memory cost at the heap footprint, for small and larger objects', async (t) => {
  const run = runChild(t, ['--expose-gc', helperScript('memory-accounting-child.js'), 'run']);
  for (let index = 0; index < 3; index++) {
    const row = await run.line((l) => l.index === index);
    const { shape, heap, external, accounted } = row as {
      shape: string;
      heap: number;
      external: number;
      accounted: number;
    };
    const real = external + heapFootprint * heap;
    t.diagnostic(
      `${shape}: ${heap} B live heap, ${external} B external, ${accounted} B accounted per object`,
    );
    // Within 10% under (GC and allocator noise) and never more than 50% over.
    assert.ok(accounted >= real * 0.9, `${shape}: accounts ${accounted} B for ${real} B of memory`);
    assert.ok(accounted <= real * 1.5, `${shape}: accounts ${accounted} B for only ${real} B of memory`);
  }
});
