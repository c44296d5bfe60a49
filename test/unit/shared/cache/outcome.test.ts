// Cache-Status members (RFC 9211): the formatter gives what cacheStatus() gives, and a plain
// hit's member is kept per whole TTL second.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CacheStatusFormatter,
  Outcome,
  cacheStatus,
  type CacheOutcome,
} from '../../../../shared/cache/outcome.js';

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

test('the outcome state machine: events move the label and the Cache-Status member together', () => {
  const run = (events: (o: Outcome) => void) => {
    const o = new Outcome();
    events(o);
    return `${o.label} | ${cacheStatus('e', o)}`;
  };
  // Answered before lookup (a refusal): counted as a pass.
  assert.equal(
    run(() => {}),
    'pass | e; fwd=uri-miss',
  );
  assert.equal(
    run((o) => o.madeHere()),
    'pass | e; fwd=bypass',
  );
  assert.equal(
    run((o) => o.hitFresh()),
    'hit | e; hit',
  );
  assert.equal(
    run((o) => o.staleWhileRevalidate()),
    'stale | e; hit; detail=stale-while-revalidate',
  );
  assert.equal(
    run((o) => {
      o.forward('uri-miss');
      o.answered(200, true);
    }),
    'miss | e; fwd=uri-miss; fwd-status=200; stored',
  );
  assert.equal(
    run((o) => {
      o.forward('uri-miss');
      o.collapse();
      o.answered(200, false, 'no-store');
    }),
    'miss | e; fwd=uri-miss; fwd-status=200; collapsed; detail=no-store',
  );
  assert.equal(
    run((o) => {
      o.forward('stale');
      o.settled('revalidated', 304);
    }),
    'revalidated | e; fwd=stale; fwd-status=304; detail=revalidated',
  );
  assert.equal(
    run((o) => {
      o.forward('stale');
      o.settled('stale-if-error', 0);
    }),
    'stale | e; hit; detail=stale-if-error',
  );
  assert.equal(
    run((o) => {
      o.forward('uri-miss');
      o.pass('bypass', 'hit-for-pass');
      o.answered(200, false);
    }),
    'pass | e; fwd=bypass; fwd-status=200; detail=hit-for-pass',
  );
  // A damaged stored body: the hit becomes a plain miss, with nothing of the hit left.
  assert.equal(
    run((o) => {
      o.hitFresh();
      o.ttlSec = 30;
      o.refetch();
    }),
    'miss | e; fwd=uri-miss',
  );
  // An error during a miss keeps the miss (its upstream status, not stored).
  assert.equal(
    run((o) => {
      o.forward('uri-miss');
      o.madeHere();
    }),
    'miss | e; fwd=uri-miss',
  );
});
