import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notModified, rangeOf } from '../../../../shared/http/conditional.js';

const lm = 'Tue, 01 Jan 2030 00:00:00 GMT';

test('notModified: If-None-Match uses weak comparison and takes precedence', () => {
  assert.equal(notModified({ 'if-none-match': 'W/"a"' }, '"a"', undefined), true);
  assert.equal(notModified({ 'if-none-match': '"b", "a"' }, 'W/"a"', undefined), true);
  assert.equal(notModified({ 'if-none-match': '*' }, '"a"', undefined), true);
  assert.equal(notModified({ 'if-none-match': '"b"', 'if-modified-since': lm }, '"a"', lm), false);
  assert.equal(notModified({ 'if-modified-since': lm }, undefined, lm), true);
  assert.equal(notModified({ 'if-modified-since': 'garbage' }, undefined, lm), false);
});

test('rangeOf: single ranges, suffixes, unsatisfiable, ignored forms, If-Range', () => {
  assert.deepEqual(rangeOf({ range: 'bytes=2-4' }, 10, undefined, undefined), {
    kind: 'partial',
    start: 2,
    end: 4,
  });
  assert.deepEqual(rangeOf({ range: 'bytes=-3' }, 10, undefined, undefined), {
    kind: 'partial',
    start: 7,
    end: 9,
  });
  assert.deepEqual(rangeOf({ range: 'bytes=8-' }, 10, undefined, undefined), {
    kind: 'partial',
    start: 8,
    end: 9,
  });
  assert.deepEqual(rangeOf({ range: 'bytes=10-' }, 10, undefined, undefined), { kind: 'unsatisfiable' });
  assert.deepEqual(rangeOf({ range: 'bytes=-0' }, 10, undefined, undefined), { kind: 'unsatisfiable' });
  assert.deepEqual(rangeOf({ range: 'bytes=1-2,4-5' }, 10, undefined, undefined), { kind: 'full' });
  assert.deepEqual(rangeOf({ range: 'bytes=1-2', 'if-range': '"x"' }, 10, '"y"', undefined), {
    kind: 'full',
  });
  assert.deepEqual(rangeOf({ range: 'bytes=1-2', 'if-range': '"x"' }, 10, 'W/"x"', undefined), {
    kind: 'full',
  });
  assert.deepEqual(rangeOf({ range: 'bytes=1-2', 'if-range': lm }, 10, undefined, lm), {
    kind: 'partial',
    start: 1,
    end: 2,
  });
});
