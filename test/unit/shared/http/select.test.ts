// Upstream selection: rendezvous hashing over shields (balance, minimal movement, region
// preference, skipping peers out of service) and origin pools (rotation, failed ones last).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerHealth } from '../../../../shared/http/health.js';
import { OriginPool, ShieldSelector } from '../../../../shared/http/select.js';
import { Peer, upstreamOptions, type PeerKind } from '../../../../shared/http/upstream.js';
import { validateConfig } from '../../../../shared/config/config.js';

const { config } = validateConfig({ sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }] });
const options = upstreamOptions(config!.upstream);
const rules = { failures: 2, openMs: 1000 };

function peer(url: string, kind: PeerKind = 'shield', region?: string): Peer {
  return new Peer(url, kind, new PeerHealth(rules), options, region);
}

const shields = (n: number) => Array.from({ length: n }, (_, i) => peer(`http://10.0.0.${i + 1}:8080`));
const keys = Array.from({ length: 10_000 }, (_, i) => `http://cdn.test/objects/${i}.jpg`);
const owner = (s: ShieldSelector, key: string) => s.candidates(key, 0)[0].url;

test('rendezvous hashing spreads 10,000 keys evenly over the shields', () => {
  const selector = new ShieldSelector(shields(4), 'local', undefined);
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(owner(selector, key), (counts.get(owner(selector, key)) ?? 0) + 1);
  assert.equal(counts.size, 4);
  for (const [url, n] of counts) assert.ok(n > 2250 && n < 2750, `${url} owns ${n} of 10,000 (ideal 2,500)`);
});

test('adding a shield moves only about 1/N of the keys, all of them to the new shield', () => {
  const three = shields(3);
  const four = [...three, peer('http://10.0.0.99:8080')];
  const before = new ShieldSelector(three, 'local', undefined);
  const after = new ShieldSelector(four, 'local', undefined);
  let moved = 0;
  for (const key of keys) {
    const from = owner(before, key);
    const to = owner(after, key);
    if (from === to) continue;
    moved++;
    assert.equal(to, 'http://10.0.0.99:8080', `${key} moved between two old shields`);
  }
  // Ideal: 1/4 of the keys. Removing the new shield again moves exactly those back.
  assert.ok(moved > 2250 && moved < 2750, `${moved} of 10,000 keys moved`);
});

test('the order does not depend on how the shields are listed', () => {
  const list = shields(5);
  const a = new ShieldSelector(list, 'local', undefined);
  const b = new ShieldSelector([...list].reverse(), 'local', undefined);
  for (const key of keys.slice(0, 500))
    assert.deepEqual(
      a.candidates(key, 0).map((p) => p.url),
      b.candidates(key, 0).map((p) => p.url),
    );
});

test('a shield out of service is skipped; its keys go to the next in hash order, the rest stay', () => {
  const list = shields(3);
  const selector = new ShieldSelector(list, 'local', undefined);
  const orders = keys.slice(0, 1000).map((k) => selector.candidates(k, 0).map((p) => p.url));
  list[0].health.failed(0);
  list[0].health.failed(0); // two failures in a row open the circuit (rules.failures)
  keys.slice(0, 1000).forEach((key, i) => {
    const expected = orders[i].filter((url) => url !== list[0].url);
    assert.deepEqual(
      selector.candidates(key, 500).map((p) => p.url),
      expected,
    );
  });
  // Half-open after openMs: the shield is tried again, and back where it was.
  assert.deepEqual(
    selector.candidates(keys[0], 1000).map((p) => p.url),
    orders[0],
  );
});

test('shields of the edge region come first; origins follow when the fallback is direct', () => {
  const eu = [peer('http://10.1.0.1:8080', 'shield', 'eu'), peer('http://10.1.0.2:8080', 'shield', 'eu')];
  const us = [peer('http://10.2.0.1:8080', 'shield', 'us')];
  const origins = new OriginPool([peer('http://10.9.0.1:80', 'origin')]);
  const selector = new ShieldSelector([...us, ...eu], 'eu', origins);
  for (const key of keys.slice(0, 200)) {
    const order = selector.candidates(key, 0);
    assert.deepEqual(
      order.map((p) => p.region ?? p.kind),
      ['eu', 'eu', 'us', 'origin'],
    );
  }
  // Every shield out of service: straight to the origins; without a fallback, nothing (503).
  for (const s of [...eu, ...us]) s.health.probed(false);
  assert.deepEqual(
    selector.candidates(keys[0], 0).map((p) => p.kind),
    ['origin'],
  );
  assert.deepEqual(new ShieldSelector([...us, ...eu], 'eu', undefined).candidates(keys[0], 0), []);
});

test('an origin pool rotates, and puts origins out of service last rather than dropping them', () => {
  const list = [peer('http://o1', 'origin'), peer('http://o2', 'origin'), peer('http://o3', 'origin')];
  const pool = new OriginPool(list);
  const firsts = [0, 1, 2, 3].map(() => pool.candidates('k', 0)[0].url);
  assert.deepEqual(firsts, ['http://o1', 'http://o2', 'http://o3', 'http://o1']);
  list[1].health.probed(false);
  for (let i = 0; i < 3; i++) {
    const order = pool.candidates('k', 0).map((p) => p.url);
    assert.equal(order.length, 3);
    assert.equal(order[2], 'http://o2');
  }
});

test('peer health: failures in a row open the circuit, a success closes it, a probe overrides', () => {
  const h = new PeerHealth({ failures: 3, openMs: 1000 });
  h.failed(0);
  h.failed(0);
  h.succeeded(); // an answer resets the count
  h.failed(10);
  h.failed(10);
  assert.equal(h.usable(10), true);
  h.failed(10);
  assert.equal(h.usable(10), false);
  assert.equal(h.usable(1009), false);
  assert.equal(h.usable(1010), true); // half-open
  h.failed(1010); // a failure while half-open opens it again at once
  assert.equal(h.usable(1011), false);
  h.probed(true); // a good probe brings it back
  assert.equal(h.usable(1011), true);
  h.probed(false);
  assert.equal(h.usable(99_999), false, 'a failed probe keeps it out until a probe succeeds');
  h.probed(true);
  assert.equal(h.usable(99_999), true);
});

test('edges prefer the shield nearest their region: own region, then the near regions in order, then the rest', () => {
  const list = [
    peer('http://10.3.0.1:8080', 'shield', 'ap'),
    peer('http://10.4.0.1:8080', 'shield'),
    peer('http://10.2.0.1:8080', 'shield', 'us'),
    peer('http://10.1.0.1:8080', 'shield', 'eu'),
    peer('http://10.2.0.2:8080', 'shield', 'us'),
  ];
  const selector = new ShieldSelector(list, ['eu', 'us', 'ap'], undefined);
  for (const key of keys.slice(0, 200)) {
    const regions = selector.candidates(key, 0).map((p) => p.region ?? 'none');
    assert.deepEqual(regions, ['eu', 'us', 'us', 'ap', 'none']);
  }
  // The eu shield out of service: the us ones are nearest, in rendezvous order per key.
  list[3].health.failed(0);
  list[3].health.failed(0);
  const firsts = new Set(keys.slice(0, 200).map((k) => selector.candidates(k, 500)[0].url));
  assert.deepEqual([...firsts].sort(), ['http://10.2.0.1:8080', 'http://10.2.0.2:8080']);
});
