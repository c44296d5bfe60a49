// The HTTPS, HTTP/2, WebSocket and upstream TLS keys: defaults, and the cross-field rules that
// name the key at fault.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../../../shared/config/config.js';
import type { Problem } from '../../../../shared/config/schema.js';

const origin = 'http://127.0.0.1:3000';
const https = { address: '127.0.0.1:8443', certificates: [{ cert: '/etc/a.pem', key: '/etc/a.key' }] };

function problems(input: Record<string, unknown>): Problem[] {
  return validateConfig({ sites: [{ hosts: ['*'], origins: [origin] }], ...input }).problems;
}

function hasProblem(list: Problem[], path: string, message: RegExp): void {
  const found = list.find((p) => p.path === path);
  assert.ok(found, `no problem at ${path}; got ${JSON.stringify(list)}`);
  assert.match(found.message, message);
}

test('listen.https takes certificates and fills in TLS defaults; absent by default', () => {
  const { config } = validateConfig({ listen: { https }, sites: [{ hosts: ['*'], origins: [origin] }] });
  assert.deepEqual(config?.listen.https, {
    ...https,
    certificates: [{ ...https.certificates[0], chain: undefined }],
    defaultCertificate: undefined,
    minVersion: 'TLSv1.2',
    http2: true,
    reloadCheck: 10_000,
    ticketRotation: 3_600_000,
    handshakeTimeout: 10_000,
  });
  assert.equal(
    validateConfig({ sites: [{ hosts: ['*'], origins: [origin] }] }).config?.listen.https,
    undefined,
  );
  assert.equal(config?.server.http2.maxConcurrentStreams, 100);
  assert.equal(config?.websocket.maxConnections, 10_000);
  assert.equal(config?.sites[0].websocket, 'off');
  assert.equal(config?.sites[0].https.redirect, false);
  assert.equal(config?.sites[0].cacheKey.scheme, 'keep');
});

test('listen.https needs certificates, a TLS 1.2+ minimum and its own address', () => {
  const list = problems({
    listen: {
      http: '0.0.0.0:8080',
      https: { address: '0.0.0.0:8080', certificates: [], minVersion: 'TLSv1.1' },
    },
  });
  hasProblem(list, 'listen.https.certificates', /at least 1/);
  hasProblem(list, 'listen.https.minVersion', /TLSv1\.2, TLSv1\.3/);
  hasProblem(list, 'listen.https.address', /must differ from listen\.http/);
  hasProblem(
    problems({ listen: { https: { ...https, certificates: [{ cert: '/a.pem' }] } } }),
    'listen.https.certificates[0].key',
    /required/,
  );
});

test('HSTS preload needs includeSubDomains and a year of max-age', () => {
  const site = (hsts: unknown) => ({ sites: [{ hosts: ['*'], origins: [origin], https: { hsts } }] });
  hasProblem(
    problems(site({ maxAge: '30d', preload: true })),
    'sites[0].https.hsts.preload',
    /includeSubDomains/,
  );
  assert.deepEqual(problems(site({ maxAge: '365d', includeSubDomains: true, preload: true })), []);
});

test('tls.insecure is per upstream, and only for https:// ones', () => {
  assert.deepEqual(
    problems({
      sites: [
        { hosts: ['*'], origins: ['https://10.0.0.5', { url: 'https://10.0.0.6', tls: { insecure: true } }] },
      ],
      shields: [{ url: 'https://10.0.1.7:8443', tls: { insecure: true } }],
    }),
    [],
  );
  const list = problems({
    sites: [{ hosts: ['*'], origins: [{ url: 'http://10.0.0.6', tls: { insecure: true } }] }],
    shields: [{ url: 'http://10.0.1.7:8080', tls: { insecure: true } }],
  });
  hasProblem(list, 'sites[0].origins[0].tls.insecure', /only applies to https:\/\//);
  hasProblem(list, 'shields[0].tls.insecure', /only applies to https:\/\//);
  hasProblem(
    problems({ sites: [{ hosts: ['*'], origins: [{ url: 'ftp://x' }] }] }),
    'sites[0].origins[0].url',
    /is not valid/,
  );
});

test('sites[].websocket is off, direct or shield', () => {
  hasProblem(
    problems({ sites: [{ hosts: ['*'], origins: [origin], websocket: 'on' }] }),
    'sites[0].websocket',
    /off, direct, shield/,
  );
});
