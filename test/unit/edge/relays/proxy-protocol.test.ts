// PROXY protocol v1/v2: what the relay writes, read back by its parser, and the parser's
// answers on partial, invalid and LOCAL headers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeProxyHeader, parseProxyHeader } from '../../../../edge/relays/proxy-protocol.js';

const client = { address: '203.0.113.7', port: 40000 };
const relay = { address: '192.0.2.1', port: 443 };

test('v1 and v2 headers round-trip for IPv4, IPv6 and an IPv4 client of a dual-stack socket', () => {
  for (const version of ['v1', 'v2'] as const) {
    const four = parseProxyHeader(
      Buffer.concat([encodeProxyHeader(version, client, relay), Buffer.from('rest')]),
    );
    assert.equal(four.state, 'done');
    assert.deepEqual(four.state === 'done' && four.header, {
      command: 'proxy',
      source: client,
      destination: relay,
    });
    const six = parseProxyHeader(
      encodeProxyHeader(
        version,
        { address: '2001:db8::7', port: 1 },
        { address: '::ffff:192.0.2.1', port: 2 },
      ),
    );
    assert.equal(six.state, 'done');
    const header = six.state === 'done' ? six.header : undefined;
    assert.equal(header?.command, 'proxy');
    if (header?.command === 'proxy') {
      assert.match(header.source.address, /^2001:db8:0*:0*:0*:0*:0*:7$|^2001:db8::7$/);
      assert.match(header.destination.address, /ffff:c000:201$|::ffff:192\.0\.2\.1$/);
    }
    const mapped = parseProxyHeader(
      encodeProxyHeader(version, { address: '::ffff:203.0.113.7', port: 5 }, relay),
    );
    assert.deepEqual(mapped.state === 'done' && mapped.header, {
      command: 'proxy',
      source: { address: '203.0.113.7', port: 5 },
      destination: relay,
    });
  }
  assert.equal(
    encodeProxyHeader('v1', client, relay).toString(),
    'PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n',
  );
});

test('the parser waits for a whole header, refuses what is not one, and takes LOCAL and UNKNOWN', () => {
  const v2 = encodeProxyHeader('v2', client, relay);
  for (let cut = 1; cut < v2.length; cut++) assert.equal(parseProxyHeader(v2.subarray(0, cut)).state, 'more');
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7')).state, 'more');
  assert.equal(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n')).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)).state, 'invalid');
  const unknown = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\nx'));
  assert.deepEqual(unknown, { state: 'done', header: { command: 'local' }, length: 15 });
  const local = Buffer.from(v2);
  local[12] = 0x20;
  assert.deepEqual(parseProxyHeader(local), {
    state: 'done',
    header: { command: 'local' },
    length: v2.length,
  });
});
