import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PurgeFences } from '../../../../shared/purge/fences.js';

const meta = (key: string, tags: string[] = []) => ({ key, tags });

test('a fill that started before a matching purge may not store; one that started after may', () => {
  const fences = new PurgeFences();
  const before = fences.enter();
  fences.record([{ kind: 'tag', tag: 'news' }], false);
  const after = fences.enter();
  assert.equal(fences.verdict(before, meta('http://a.test/1', ['news'])), 'drop');
  assert.equal(fences.verdict(before, meta('http://a.test/2', ['sport'])), 'store');
  assert.equal(fences.verdict(after, meta('http://a.test/1', ['news'])), 'store');
});

test('every selector fences: url, prefix, host, all; a soft purge stores stale', () => {
  const fences = new PurgeFences();
  const since = fences.enter();
  fences.record([{ kind: 'url', key: 'http://a.test/u' }], false);
  fences.record([{ kind: 'prefix', prefix: 'http://a.test/img/' }], false);
  fences.record([{ kind: 'host', host: 'b.test' }], true);
  assert.equal(fences.verdict(since, meta('http://a.test/u')), 'drop');
  assert.equal(fences.verdict(since, meta('http://a.test/img/x')), 'drop');
  assert.equal(fences.verdict(since, meta('http://b.test/x')), 'stale');
  assert.equal(fences.verdict(since, meta('http://c.test/x')), 'store');
  fences.record([{ kind: 'all' }], false);
  assert.equal(fences.verdict(since, meta('http://c.test/x')), 'drop');
});

test('fences are let go once no fill that started before them runs', () => {
  const fences = new PurgeFences();
  fences.record([{ kind: 'all' }], false);
  assert.equal(fences.size, 0, 'no fill in flight: nothing to keep');
  const since = fences.enter();
  fences.record([{ kind: 'all' }], false);
  assert.equal(fences.size, 1);
  fences.leave(since);
  assert.equal(fences.size, 0);
});
