// The relays section: defaults filled in, and every invalid value refused at start with its
// key path and the reason, all at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../../../shared/config/config.js';
import type { Problem } from '../../../../shared/config/schema.js';

const sites = [{ hosts: ['*'], origins: ['http://127.0.0.1:3000'] }];

function problemsOf(relays: unknown): Problem[] {
  const { config, problems } = validateConfig({ sites, relays });
  assert.equal(config, undefined);
  return problems;
}

function hasProblem(problems: Problem[], path: string, message: RegExp): void {
  const found = problems.find((p) => p.path === path);
  assert.ok(found, `no problem at ${path}; got ${JSON.stringify(problems)}`);
  assert.match(found.message, message);
}

test('relays default to none, and a relay gets its defaults', () => {
  const { config } = validateConfig({ sites });
  assert.deepEqual(config!.relays, { tcp: [], udp: [] });
  const { config: withRelays, problems } = validateConfig({
    sites,
    relays: {
      tcp: [
        {
          name: 'db',
          listen: '0.0.0.0:5432',
          backends: ['10.0.0.5:5432', { address: '10.0.0.6:5432', weight: 3 }],
        },
      ],
      udp: [{ name: 'dns', listen: '[::]:53', backends: ['10.0.0.53:53'] }],
    },
  });
  assert.deepEqual(problems, []);
  const tcp = withRelays!.relays.tcp[0];
  assert.equal(tcp.balance, 'round-robin');
  assert.equal(tcp.connectTimeout, 5000);
  assert.equal(tcp.proxyProtocol, 'off');
  assert.deepEqual(tcp.backends[1], { address: '10.0.0.6:5432', weight: 3 });
  const udp = withRelays!.relays.udp[0];
  assert.equal(udp.idleTimeout, 30_000);
  assert.deepEqual(udp.rateLimit, { packetsPerSecond: 1000, burst: 2000 });
  assert.deepEqual(udp.amplification, { maxRatio: 3, trusted: [] });
});

test('invalid relays are refused with every problem and its key path', () => {
  const problems = problemsOf({
    tcp: [
      {
        name: 'db',
        listen: 'nowhere',
        backends: [],
        balance: 'random',
        proxyProtocol: 'v3',
        acceptProxyFrom: ['10.0.0.0/40'],
      },
      { name: 'db', listen: '127.0.0.1:7000', backends: ['127.0.0.1:1'], udpOnly: true },
    ],
    udp: [
      {
        name: 'dns',
        listen: '127.0.0.1:53',
        backends: [{ address: '127.0.0.1:5353', weight: 0 }],
        connectTimeout: '1s',
        health: { probe: { send: 'zz', encoding: 'hex' } },
        rateLimit: { packetsPerSecond: -1 },
      },
    ],
    sctp: [],
  });
  hasProblem(problems, 'relays.tcp[0].listen', /host:port/);
  hasProblem(problems, 'relays.tcp[0].backends', /at least 1/);
  hasProblem(problems, 'relays.tcp[0].balance', /round-robin, least-connections, hash-client-ip/);
  hasProblem(problems, 'relays.tcp[0].proxyProtocol', /off, v1, v2/);
  hasProblem(problems, 'relays.tcp[0].acceptProxyFrom[0]', /too long for IPv4/);
  hasProblem(problems, 'relays.tcp[1].name', /relay db is defined twice/);
  hasProblem(problems, 'relays.tcp[1].udpOnly', /unknown key/);
  hasProblem(problems, 'relays.udp[0].backends[0].weight', /integer from 1 to 100/);
  hasProblem(problems, 'relays.udp[0].connectTimeout', /unknown key/);
  hasProblem(problems, 'relays.udp[0].health.probe.send', /hex/);
  hasProblem(problems, 'relays.udp[0].rateLimit.packetsPerSecond', /integer from 0/);
  hasProblem(problems, 'relays.sctp', /unknown key \(known keys here: tcp, udp\)/);
});
