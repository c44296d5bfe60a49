import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineWriter } from '../../../shared/line-writer.js';

async function tempFile(t: test.TestContext): Promise<{ path: string; fd: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-lines-'));
  const path = join(dir, 'out.log');
  const handle = await open(path, 'w');
  t.after(async () => {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { path, fd: handle.fd };
}

test('lines come out whole and in order, in batches, and close() writes the rest', async (t) => {
  const { path, fd } = await tempFile(t);
  const writer = new LineWriter(fd, { flushBytes: 1000, flushMs: 10_000 });
  for (let i = 0; i < 500; i++) writer.write(`{"n":${i}}\n`);
  await writer.close();
  const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
  assert.equal(lines.length, 500);
  lines.forEach((line, i) => assert.deepEqual(JSON.parse(line), { n: i }));
});

test('past maxBufferedBytes lines are dropped and counted, never buffered without bound', async (t) => {
  const { fd } = await tempFile(t);
  const writer = new LineWriter(fd, { flushBytes: 1 << 30, flushMs: 10_000, maxBufferedBytes: 100 });
  let accepted = 0;
  for (let i = 0; i < 50; i++) if (writer.write('0123456789\n')) accepted++;
  assert.ok(accepted < 50);
  assert.equal(writer.dropped, 50 - accepted);
  await writer.close();
});

test('non-ASCII text and lines larger than the buffer come out intact and in order', async (t) => {
  const { path, fd } = await tempFile(t);
  const writer = new LineWriter(fd, { flushBytes: 256, flushMs: 10_000 });
  const lines = ['é→✓ small\n', `${'x'.repeat(1000)}\n`, 'after the big one: 日本\n', `${'ü'.repeat(300)}\n`];
  for (let i = 0; i < 20; i++) for (const line of lines) writer.write(line);
  await writer.close();
  assert.equal(await readFile(path, 'utf8'), lines.join('').repeat(20));
});
