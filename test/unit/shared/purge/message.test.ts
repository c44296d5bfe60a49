import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareIds, decodePurge, encodePurge, parseSpec } from '../../../../shared/purge/message.js';

test('parseSpec accepts every selector and normalises hosts', () => {
  const parsed = parseSpec({ urls: ['https://a.test/x'], hosts: ['A.test.:80'], tags: ['t'], soft: true });
  assert.ok('spec' in parsed);
  assert.deepEqual(parsed.spec.hosts, ['a.test']);
  assert.equal(parsed.spec.soft, true);
});

test('parseSpec names what is wrong', () => {
  const problem = (body: unknown) => {
    const parsed = parseSpec(body);
    return 'problem' in parsed ? parsed.problem : '';
  };
  assert.match(problem([]), /JSON object/);
  assert.match(problem({ url: ['x'] }), /unknown field "url"/);
  assert.match(problem({ all: 'yes' }), /"all" must be true or false/);
  assert.match(problem({ prefixes: ['ftp://a/'] }), /absolute http/);
  assert.match(problem({ hosts: ['a b'] }), /not a host name/);
  assert.match(problem({ tags: Array.from({ length: 1001 }, (_, i) => `t${i}`) }), /too many selectors/);
});

test('the log format is versioned: a known version reads back, an unknown one is refused', () => {
  const spec = { urls: [], prefixes: [], hosts: [], tags: ['t'], all: false, soft: false };
  const text = encodePurge(spec, 1000);
  assert.deepEqual(decodePurge('1-0', text), { v: 1, id: '1-0', atMs: 1000, ...spec });
  assert.equal(decodePurge('1-0', text.replace('"v":1', '"v":2')), undefined);
  assert.equal(decodePurge('1-0', 'not json'), undefined);
});

test('log ids order by time, then sequence', () => {
  assert.ok(compareIds('10-0', '9-5') > 0);
  assert.ok(compareIds('10-1', '10-0') > 0);
  assert.equal(compareIds('10-1', '10-1'), 0);
});
