import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostName, normalizeHost } from '../../../../shared/http/host.js';
import { keyBuilder } from '../../../../shared/cache/key.js';
import { Router } from '../../../../shared/http/router.js';
import { validateConfig } from '../../../../shared/config/config.js';

test('one host in every spelling: case, trailing dot and default port', () => {
  for (const spelling of ['example.test', 'Example.test.', 'example.test:80', 'EXAMPLE.TEST.:80'])
    assert.equal(normalizeHost(spelling, 'http'), 'example.test', spelling);
  assert.equal(normalizeHost('example.test:443', 'https'), 'example.test');
  assert.equal(normalizeHost('example.test:443', 'http'), 'example.test:443');
  assert.equal(normalizeHost('example.test:8080', 'http'), 'example.test:8080');
  assert.equal(normalizeHost('example.test:443', 'any'), 'example.test');
  assert.equal(normalizeHost('[::1]:80', 'http'), '[::1]');
  assert.equal(normalizeHost('[::1]:8080'), '[::1]:8080');
  assert.equal(hostName('A.test.:8080'), 'a.test');
});

test('regression: Host "a.test." shares the cache key of "a.test" (a purge of a.test reaches it)', () => {
  const key = keyBuilder({ query: 'keep', dropParams: [] });
  assert.equal(key('http', 'a.test.', '/x'), key('http', 'a.test', '/x'));
  assert.equal(key('http', 'A.test.:80', '/x'), 'http://a.test/x');
});

test('the router and the config compare hosts as the cache key does', () => {
  const { config } = validateConfig({ sites: [{ hosts: ['A.test.'], origins: ['http://127.0.0.1:1'] }] });
  const router = new Router(config!.sites, () => ({}) as never);
  assert.ok(router.route('a.test:80'));
  assert.ok(router.route('a.TEST.'));
  const dup = validateConfig({ sites: [{ hosts: ['a.test', 'A.test.'], origins: ['http://127.0.0.1:1'] }] });
  assert.match(dup.problems[0].message, /listed twice/);
});
