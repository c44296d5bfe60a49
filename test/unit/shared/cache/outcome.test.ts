// Cache-Status members (RFC 9211): the formatter gives what cacheStatus() gives, and a plain
// hit's member is kept per whole TTL second.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CacheStatusFormatter, cacheStatus, type CacheOutcome } from '../../../../shared/cache/outcome.js';

const outcomes: CacheOutcome[] = [
  { hit: true, ttlSec: 59.7 },
  { hit: true, ttlSec: -3.2, detail: 'stale-while-revalidate' },
  { hit: false, fwd: 'uri-miss', fwdStatus: 200, ttlSec: 60, stored: true },
  { hit: false, fwd: 'stale', fwdStatus: 304, detail: 'revalidated', ttlSec: 60 },
  { hit: false, fwd: 'uri-miss', fwdStatus: 200, stored: true, collapsed: true },
  { hit: false, fwd: 'bypass', detail: 'hit-for-pass' },
  { hit: false },
];

test('the formatter writes every outcome exactly as cacheStatus() does', () => {
  const formatter = new CacheStatusFormatter('edge-1');
  for (const o of outcomes) assert.equal(formatter.format(o), cacheStatus('edge-1', o), JSON.stringify(o));
  assert.equal(formatter.format({ hit: true, ttlSec: 59.7 }), 'edge-1; hit; ttl=59');
});

test('plain hits are formatted by whole TTL second, a hit with more to say in full', () => {
  const formatter = new CacheStatusFormatter('edge-1');
  const first = formatter.format({ hit: true, ttlSec: 30.9 });
  assert.equal(formatter.format({ hit: true, ttlSec: 30.1 }), first);
  assert.equal(formatter.format({ hit: true, ttlSec: 29.9 }), 'edge-1; hit; ttl=29');
  // A hit with anything more to say is not a plain hit.
  assert.equal(
    formatter.format({ hit: true, ttlSec: 30.5, detail: 'stale-if-error' }),
    'edge-1; hit; ttl=30; detail=stale-if-error',
  );
});
