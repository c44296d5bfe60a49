import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostOfKey, keyBuilder } from '../../../../shared/cache/key.js';

test('the key is scheme, lowercased host without default port, path and query', () => {
  const key = keyBuilder({ query: 'keep', dropParams: [] });
  assert.equal(key('http', 'Example.COM:80', '/a/B?x=1'), 'http://example.com/a/B?x=1');
  assert.equal(key('https', 'example.com:443', '/'), 'https://example.com/');
  assert.equal(key('http', 'example.com:8080', '/'), 'http://example.com:8080/');
  assert.equal(hostOfKey('http://example.com:8080/a?b'), 'example.com:8080');
});

test('query options: sort, drop named parameters (decoded), ignore', () => {
  const sorted = keyBuilder({ query: 'sort', dropParams: ['utm source'] });
  assert.equal(sorted('http', 'h', '/p?b=2&a=1&utm+source=x&&'), 'http://h/p?a=1&b=2');
  assert.equal(sorted('http', 'h', '/p?utm%20source=1'), 'http://h/p');
  const kept = keyBuilder({ query: 'keep', dropParams: ['x'] });
  assert.equal(kept('http', 'h', '/p?b=2&x=1&a=1'), 'http://h/p?b=2&a=1');
  assert.equal(keyBuilder({ query: 'ignore', dropParams: [] })('http', 'h', '/p?q=1'), 'http://h/p');
  assert.equal(kept('http', 'h', '/p?%E0%A4%A=1'), 'http://h/p?%E0%A4%A=1');
});
