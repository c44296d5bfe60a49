// Size and duration parsing: what operators write in YAML, and what is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from '../../../../shared/config/units.js';

test('sizes accept binary and decimal units, spaces and any case; bare numbers are bytes', () => {
  assert.equal(parseSize('256MiB'), 256 * 1024 ** 2);
  assert.equal(parseSize('10 MB'), 10_000_000);
  assert.equal(parseSize('512kib'), 512 * 1024);
  assert.equal(parseSize('1.5GB'), 1_500_000_000);
  assert.equal(parseSize('2TiB'), 2 * 1024 ** 4);
  assert.equal(parseSize('100b'), 100);
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize(0), 0);
});

test('sizes refuse negative, unknown units and non-scalars', () => {
  for (const bad of [
    '-1MiB',
    '10 parsecs',
    'MiB',
    '',
    '1e3',
    '10 M B',
    null,
    true,
    {},
    [],
    -5,
    Infinity,
    NaN,
  ])
    assert.equal(parseSize(bad), undefined, JSON.stringify(bad));
});

test('durations accept ms, s, m, h, d; bare numbers are milliseconds', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration(' 10 S '), 10_000);
  assert.equal(parseDuration('750'), 750);
  assert.equal(parseDuration(750), 750);
});

test('durations refuse units they do not know and negative values', () => {
  for (const bad of ['5 minutes', '1h30m', '-1s', 's', '10 MiB', false, -1])
    assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
});
