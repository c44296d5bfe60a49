// EDNS Client Subnet options (RFC 7871 §6) as read from a query and echoed in a response.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PacketOpt } from 'dns-packet';
import { clientSubnet, subnetOption } from '../../../../edge/geo/ecs.js';
import { subnetOpt } from '../../../helpers/dns.js';

const raw = (bytes: number[]): PacketOpt => ({ code: 8, data: Buffer.from(bytes) }) as PacketOpt;

test('IPv4 and IPv6 subnets are read with their source prefix; other options are ignored', () => {
  const v4 = clientSubnet([{ code: 12, data: Buffer.alloc(4) } as PacketOpt, subnetOpt('198.51.100.0/24')]);
  assert.ok(v4 && v4 !== 'invalid');
  assert.equal(v4.address, '198.51.100.0');
  assert.equal(v4.sourcePrefixLength, 24);
  const v6 = clientSubnet([subnetOpt('2001:db8:100::/40')]);
  assert.ok(v6 && v6 !== 'invalid');
  assert.equal(v6.address, '2001:db8:100:0:0:0:0:0');
  assert.equal(clientSubnet([]), undefined);
});

test('what RFC 7871 forbids in a query is invalid', () => {
  assert.equal(clientSubnet([raw([0, 3, 24, 0, 1, 2, 3])]), 'invalid', 'unknown family');
  assert.equal(clientSubnet([raw([0, 1, 33, 0, 1, 2, 3, 4, 5])]), 'invalid', 'prefix too long');
  assert.equal(clientSubnet([raw([0, 1, 24, 8, 1, 2, 3])]), 'invalid', 'scope in a query');
  assert.equal(clientSubnet([raw([0, 1, 24, 0, 1, 2, 3, 4])]), 'invalid', 'too many address bytes');
  assert.equal(clientSubnet([raw([0, 1, 20, 0, 1, 2, 0xff])]), 'invalid', 'bits past the prefix');
  assert.equal(clientSubnet([raw([0, 1])]), 'invalid', 'too short');
  assert.equal(clientSubnet([subnetOpt('192.0.2.0/24'), subnetOpt('192.0.2.0/24')]), 'invalid', 'twice');
});

test('the response option echoes family, source prefix and address, with the scope', () => {
  const subnet = clientSubnet([subnetOpt('192.0.2.0/24')]);
  assert.ok(subnet && subnet !== 'invalid');
  assert.deepEqual([...subnetOption(subnet, 16).data!], [0, 1, 24, 16, 192, 0, 2]);
});
