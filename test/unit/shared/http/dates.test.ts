import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpDate } from '../../../../shared/http/dates.js';

const now = Date.UTC(2026, 11, 2);
const aug18 = Date.UTC(2050, 7, 18, 2, 1, 18);

test('RFC 9110 §5.6.7: IMF-fixdate and the two obsolete forms are read', () => {
  assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', now), Date.UTC(1994, 10, 6, 8, 49, 37));
  assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now), Date.UTC(1994, 10, 6, 8, 49, 37));
  assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994', now), Date.UTC(1994, 10, 6, 8, 49, 37));
  assert.equal(parseHttpDate('Thu Aug 18 02:01:18 2050', now), aug18);
  assert.equal(parseHttpDate(' Thu, 18 Aug 2050 02:01:18 GMT ', now), aug18);
});

test('RFC 9110 §5.6.7: a two-digit rfc850 year more than 50 years ahead is in the past', () => {
  assert.equal(parseHttpDate('Thursday, 18-Aug-50 02:01:18 GMT', now), aug18);
  assert.equal(parseHttpDate('Monday, 01-Jan-99 00:00:00 GMT', now), Date.UTC(1999, 0, 1));
  assert.equal(parseHttpDate('Sunday, 01-Jan-76 00:00:00 GMT', now), Date.UTC(2076, 0, 1));
});

test('RFC 9110 §5.6.7: names in any case, as recipients are encouraged to be robust', () => {
  assert.equal(parseHttpDate('THU, 18 Aug 2050 02:01:18 GMT', now), aug18);
  assert.equal(parseHttpDate('Thu, 18 AUG 2050 02:01:18 GMT', now), aug18);
  assert.equal(parseHttpDate('Thu, 18 Aug 2050 02:01:18 gMT', now), aug18);
});

test('RFC 9110 §5.6.7: anything but the three forms is invalid', () => {
  for (const bad of [
    'Thu, 18 Aug 2050 02:01:18 UTC',
    'Thu, 18 Aug 2050 02:01:18 AEST',
    'Thu, 18 Aug 50 02:01:18 GMT',
    'Thu 18 Aug 2050 02:01:18 GMT',
    'Thu, 18  Aug  2050 02:01:18 GMT',
    'Thu, 18-Aug-2050 02:01:18 GMT',
    'Thu, 18 Aug 2050 02.01.18 GMT',
    'Thu, 18 Aug 2050 2:01:18 GMT',
    'Thu, 31 Feb 2050 02:01:18 GMT',
    'Thu, 18 Aug 2050 24:01:18 GMT',
    'Xyz, 18 Aug 2050 02:01:18 GMT',
    '2050-08-18T02:01:18Z',
    '0',
    '-1',
    '',
  ])
    assert.equal(parseHttpDate(bad, now), undefined, bad);
  assert.equal(parseHttpDate(undefined, now), undefined);
});
