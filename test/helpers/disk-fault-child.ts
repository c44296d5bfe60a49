// Child process of the write-fault test, started under a small file-size limit (RLIMIT_FSIZE)
// so body file writes fail the way they do on a full disk (objects grow by 128 KiB each, so the
// first ones fit and object 16 does not). It writes through a tiered store
// until the disk tier turns writes off, shows that memory goes on, then waits for the parent
// to lift the limit and checks that writes come back after the retry delay.
// Usage: node disk-fault-child.js <path>   (does nothing without arguments)

import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { DiskStore } from '../../shared/cache/disk-store.js';
import { TieredStore } from '../../shared/cache/tiered-store.js';
import { bufferBody, type CachedObject } from '../../shared/cache/store.js';
import { storedObject } from './objects.js';

const [path] = process.argv.slice(2);
const say = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + '\n');

function object(i: number): CachedObject {
  const size = 128 * 1024 * i;
  // Random-looking bytes, as bodies usually are.
  const bytes = Buffer.from(Array.from({ length: size }, (_, j) => (j * 2654435761 + i) >>> 24));
  return storedObject(`http://fault.test/${i}`, bufferBody(bytes));
}

if (path) {
  let nowMs = 1_000_000;
  const counts = { writeErrors: 0, disabled: 0 };
  const disk = new DiskStore({
    path,
    maxBytes: 1024 ** 3,
    maxObjectBytes: 16 * 1024 ** 2,
    maxVariants: 4,
    writeRetryMs: 30_000,
    clock: () => nowMs,
    log: pino({ level: 'silent' }),
    events: {
      writeError: () => void counts.writeErrors++,
      writeSkipped: (reason) => void (reason === 'disabled' && counts.disabled++),
    },
  });
  const store = new TieredStore({
    memory: { maxBytes: 256 * 1024 ** 2, maxObjectBytes: 16 * 1024 ** 2, maxVariants: 4 },
    disk,
    writeQueue: { maxObjects: 100, maxBytes: 64 * 1024 ** 2 },
    onOpenError: 'fail',
  });
  await store.open();
  let i = 0;
  while (counts.writeErrors === 0 && i < 400) {
    await store.put(object(++i));
    await store.flush();
  }
  const failedAt = i;
  await store.put(object(++i));
  await store.flush();
  say({
    phase: 'failed',
    failedAt,
    writeErrors: counts.writeErrors,
    disabled: counts.disabled,
    onDisk: disk.stats().objects,
    servedFromMemory: store.variants(`http://fault.test/${i}`) !== undefined,
  });

  // The parent lifts the limit, then says so on stdin.
  for await (const line of createInterface({ input: process.stdin })) if (line === 'lifted') break;
  process.stdin.destroy(); // an open stdin would keep this process alive
  process.stdin.destroy();
  await store.put(object(++i));
  await store.flush();
  const stillOff = !disk.has(`http://fault.test/${i}`, '');
  nowMs += 31_000; // past writeRetry
  await store.put(object(++i));
  await store.flush();
  const early = await disk.variants('http://fault.test/1');
  say({
    phase: 'recovered',
    stillOffBeforeRetry: stillOff,
    writtenAfterRetry: disk.has(`http://fault.test/${i}`, ''),
    earlyObjectKept: early !== undefined,
    onDisk: disk.stats().objects,
    writeErrors: counts.writeErrors,
  });
  await store.close();
}
