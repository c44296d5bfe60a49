// RelayBackends: the order new connections try the backends in, per balance and health.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayBackends, type Balance } from '../../../../edge/relays/backends.js';

const health = { failures: 1, openFor: 10_000, interval: 0, timeout: 1000 };
const make = (balance: Balance, weights = [1, 1, 1], now = () => 0) =>
  new RelayBackends(
    weights.map((weight, i) => ({ address: `10.0.0.${i + 1}:80`, weight })),
    balance,
    health,
    now,
  );
const firsts = (b: RelayBackends, n: number, ip = '192.0.2.1') =>
  Array.from({ length: n }, () => b.candidates(ip)[0].address);

test('round-robin takes each backend in turn, in proportion to its weight', () => {
  assert.deepEqual(firsts(make('round-robin'), 6), [
    '10.0.0.1:80',
    '10.0.0.2:80',
    '10.0.0.3:80',
    '10.0.0.1:80',
    '10.0.0.2:80',
    '10.0.0.3:80',
  ]);
  const weighted = firsts(make('round-robin', [3, 1]), 8);
  assert.equal(weighted.filter((a) => a === '10.0.0.1:80').length, 6);
  assert.notDeepEqual(
    weighted.slice(0, 3),
    ['10.0.0.1:80', '10.0.0.1:80', '10.0.0.1:80'],
    'interleaved, not in runs',
  );
});

test('least-connections prefers the backend with fewest open per unit of weight', () => {
  const b = make('least-connections');
  b.list[0].active = 5;
  b.list[1].active = 1;
  b.list[2].active = 3;
  assert.deepEqual(
    b.candidates('x').map((c) => c.address),
    ['10.0.0.2:80', '10.0.0.3:80', '10.0.0.1:80'],
  );
});

test('hash-client-ip: one address always gets the same order; removing a backend moves only its clients', () => {
  const three = make('hash-client-ip');
  const two = new RelayBackends(
    [
      { address: '10.0.0.1:80', weight: 1 },
      { address: '10.0.0.2:80', weight: 1 },
    ],
    'hash-client-ip',
    health,
    () => 0,
  );
  let moved = 0;
  const ips = Array.from({ length: 300 }, (_, i) => `198.51.100.${i % 250}/${i}`);
  for (const ip of ips) {
    assert.deepEqual(firsts(three, 3, ip), Array(3).fill(three.candidates(ip)[0].address));
    const before = three.candidates(ip)[0].address;
    const after = two.candidates(ip)[0].address;
    if (before !== '10.0.0.3:80') assert.equal(after, before, `${ip} kept its backend`);
    else moved++;
  }
  assert.ok(moved > 50 && moved < 150, `about a third moved: ${moved}`);
});

test('backends out of service come last, in case they are back', () => {
  let nowMs = 0;
  const b = make('round-robin', [1, 1, 1], () => nowMs);
  b.list[0].health.failed(0);
  assert.deepEqual(
    b
      .candidates('x')
      .map((c) => c.address)
      .at(-1),
    '10.0.0.1:80',
  );
  assert.equal(b.stats()[0].usable, false);
  nowMs = 10_000;
  assert.equal(b.stats()[0].usable, true, 'half-open after openFor');
});
