// A memory tier the JavaScript heap cannot hold is refused at start (a single process), or
// given the heap it needs (workers, which the primary starts), never left to crash the process
// when it fills up; and near the heap limit the node evicts and stores no new fills.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeapInfo } from 'node:v8';
import { runCli } from '../helpers/cli.js';
import { tempFile } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';
import { HeapWatch, heapNeededMiB, heapProblem } from '../../shared/heap.js';
import { validateConfig } from '../../shared/config/config.js';
import { MemoryStore } from '../../shared/cache/memory-store.js';
import { bufferBody } from '../../shared/cache/store.js';
import { storedObject } from '../helpers/objects.js';

const config = (workers: number) => `
node: { id: edge-heap }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
workers: ${workers}
sites:
  - hosts: ["*"]
    origins: ["http://127.0.0.1:1"]
cache:
  memory: { maxBytes: 512MiB }
`;

/** A heap limit of 64 MiB, as NODE_OPTIONS would set it on a small container. */
const smallHeap = { NODE_OPTIONS: '--max-old-space-size=64' };

test('one process whose heap cannot hold the memory tier refuses to start, saying what to do', async (t) => {
  const file = await tempFile(t, 'strata-heap', 'edge.yaml', config(1));
  const run = runCli(t, ['edge', '--config', file], smallHeap);
  assert.equal(await run.exited, 1);
  assert.match(
    run.stderr(),
    /edge\.yaml: cache\.memory\.maxBytes: needs a JavaScript heap of at least 640 MiB .* may use \d+ MiB: start Node\.js with --max-old-space-size=640/,
  );
});

test('workers are started with the heap their share of the memory tier needs', async (t) => {
  const file = await tempFile(t, 'strata-heap', 'edge.yaml', config(2));
  const run = runCli(t, ['edge', '--config', file], smallHeap);
  // Each worker holds 256 MiB of the tier and needs 384 MiB of heap: it would refuse with less.
  await run.logLine('edge started');
  await until(() => /"workers":2,"msg":"edge started"/.test(run.stdout()), 20_000);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
  assert.doesNotMatch(run.stderr(), /needs a JavaScript heap/);
});

test('the heap a config needs: the whole tier (metadata can be all of it) and a baseline', () => {
  const { config: c } = validateConfig({
    sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
    cache: { memory: { maxBytes: '1GiB' } },
  });
  assert.equal(heapNeededMiB(c!), 1024 + 128);
  assert.equal(heapProblem(c!, 1152), undefined);
  assert.match(heapProblem(c!, 1000)!.message, /at least 1152 MiB .* may use 1000 MiB/);
});

test('near the heap limit the watch says so and sheds the least recently used objects', () => {
  const store = new MemoryStore({ maxBytes: 64 * 1024 * 1024, maxObjectBytes: 1024 * 1024, maxVariants: 4 });
  for (let i = 0; i < 100; i++)
    void store.put(storedObject(`k${String(i).padStart(2, '0')}`, bufferBody(Buffer.alloc(1024))));
  let used = 0.5;
  const stats = () => ({ used_heap_size: used * 1000, heap_size_limit: 1000 }) as HeapInfo;
  let shed = 0;
  const watch = new HeapWatch(() => (shed += store.shed(0.1)), stats);
  watch.check();
  assert.equal(watch.tight, false);
  assert.equal(store.stats().objects, 100);
  used = 0.9;
  watch.check();
  assert.equal(watch.tight, true);
  assert.equal(shed, 10);
  assert.equal(store.stats().objects, 90);
  // The oldest went first.
  assert.equal(store.variants('k00'), undefined);
  assert.ok(store.variants('k99'));
  used = 0.6;
  watch.check();
  assert.equal(watch.tight, false);
});
