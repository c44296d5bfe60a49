import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessLog } from '../../../shared/access-log.js';
import type { LineWriter } from '../../../shared/line-writer.js';
import type { RequestContext } from '../../../shared/http/context.js';

test('access lines are valid JSON with every field, escaping what the client controls', () => {
  const lines: string[] = [];
  const log = new AccessLog({ write: (l: string) => lines.push(l) > 0 } as unknown as LineWriter, 'edge-"1"');
  const ctx = {
    id: 'abc-1',
    method: 'GET',
    host: 'example.test',
    target: '/a"b\\c\u0001?q=é',
    bytes: 12,
    upstreamMs: 3.456,
    startMs: performance.now() - 5,
    res: { writableFinished: true, destroyed: false },
  } as unknown as RequestContext;
  log.record(ctx, 200, 'miss');
  const left = {
    ...ctx,
    id: 'abc-2',
    upstreamMs: undefined,
    res: { writableFinished: false, destroyed: true },
  } as unknown as RequestContext;
  log.record(left, 499, 'pass');
  log.flush();
  const [first, second] = lines
    .join('')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(first.node, 'edge-"1"');
  assert.equal(first.path, '/a"b\\c\u0001?q=é');
  assert.equal(first.status, 200);
  assert.equal(first.cache, 'miss');
  assert.equal(first.upstreamMs, 3.5);
  assert.equal(first.msg, 'request');
  assert.ok(typeof first.ms === 'number' && first.ms >= 5);
  assert.ok(!Number.isNaN(Date.parse(String(first.time))));
  assert.equal(second.aborted, true);
  assert.equal('upstreamMs' in second, false);
});

test('lines are written in one batch per event-loop turn, in the order the requests finished', async () => {
  const writes: string[] = [];
  const log = new AccessLog({ write: (l: string) => writes.push(l) > 0 } as unknown as LineWriter, 'edge-1');
  const ctx = (id: string) =>
    ({
      id,
      method: 'GET',
      host: 'example.test',
      target: `/${id}`,
      bytes: 1,
      startMs: performance.now(),
      res: { writableFinished: true, destroyed: false },
    }) as unknown as RequestContext;
  for (let i = 0; i < 500; i++) log.record(ctx(`r${i}`), 200, 'hit');
  assert.equal(writes.length, 0, 'nothing is built while requests are being answered');
  await new Promise((resolve) => setImmediate(resolve));
  const ids = writes
    .join('')
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { reqId: string }).reqId);
  assert.deepEqual(
    ids,
    Array.from({ length: 500 }, (_, i) => `r${i}`),
  );
  // 500 lines of ~200 characters go out in pieces that fit the writer's buffer.
  assert.ok(writes.length > 1 && writes.every((w) => w.length < 20 * 1024), `${writes.length} writes`);
});
