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
  ctx.upstreamMs = undefined;
  Object.assign(ctx.res, { writableFinished: false, destroyed: true });
  log.record(ctx, 499, 'pass');
  const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
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
