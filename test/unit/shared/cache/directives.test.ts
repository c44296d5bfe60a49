import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaSeconds, parseDirectives, parseTargetedField } from '../../../../shared/cache/directives.js';

test('parseDirectives: names are case-insensitive, quoted values unquoted, first occurrence wins', () => {
  const d = parseDirectives('Max-Age=60, no-cache="set-cookie, x", max-age=10, public');
  assert.equal(d.get('max-age'), '60');
  assert.equal(d.get('no-cache'), 'set-cookie, x');
  assert.equal(d.get('public'), true);
});

test('parseDirectives: a malformed member is skipped alone', () => {
  const d = parseDirectives('max-age =60, s-maxage=30, , private');
  assert.equal(d.has('max-age'), false);
  assert.equal(d.get('s-maxage'), '30');
  assert.equal(d.get('private'), true);
});

test('parseDirectives: several field lines are one list', () => {
  const d = parseDirectives(['max-age=5', 'stale-while-revalidate=10']);
  assert.equal(d.get('stale-while-revalidate'), '10');
});

test('deltaSeconds: digits only, saturating at 2^31', () => {
  assert.equal(deltaSeconds('3600'), 3600);
  assert.equal(deltaSeconds('99999999999999'), 2 ** 31);
  for (const bad of ['3600.5', '-1', 'a100', '100a', '', true] as const)
    assert.equal(deltaSeconds(bad), undefined);
});

test('parseTargetedField: a Structured Fields dictionary; anything invalid voids the whole field', () => {
  assert.deepEqual(
    [...parseTargetedField('max-age=60, must-revalidate')!],
    [
      ['max-age', '60'],
      ['must-revalidate', true],
    ],
  );
  assert.equal(parseTargetedField('Max-Age=60'), undefined);
  assert.equal(parseTargetedField('max-age=60,,'), undefined);
  assert.equal(parseTargetedField(undefined), undefined);
});
