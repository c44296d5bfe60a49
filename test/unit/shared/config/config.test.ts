// Config validation: every problem names its key path, all of them are reported at once,
// defaults are filled in and the result is frozen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, parseConfigText, validateConfig } from '../../../../shared/config/config.js';
import { StrataError } from '../../../../shared/errors.js';
import type { Problem } from '../../../../shared/config/schema.js';
import {
  cgroupCpuQuota,
  removeStaleShards,
  workerConfig,
  workerCount,
} from '../../../../shared/cluster/worker-config.js';
import { nodeAddresses } from '../../../../shared/purge/heartbeat.js';
import { tempDir } from '../../../helpers/temp.js';

const minimal = { sites: [{ hosts: ['example.test'], origins: ['http://127.0.0.1:3000'] }] };

function problemsOf(input: unknown): Problem[] {
  const { config, problems } = validateConfig(input);
  assert.equal(config, undefined, 'an invalid config must not be returned');
  assert.ok(problems.length > 0);
  return problems;
}

/** Asserts one problem at `path` whose message matches. */
function hasProblem(problems: Problem[], path: string, message: RegExp): void {
  const found = problems.find((p) => p.path === path);
  assert.ok(found, `no problem at ${path}; got ${JSON.stringify(problems)}`);
  assert.match(found.message, message);
}

test('the issue example is valid and sizes in it become bytes', () => {
  const { config, problems } = parseConfigText(`
node: { id: edge-eu-1, region: eu }
listen: { http: "127.0.0.1:8080", admin: "127.0.0.1:9090" }
sites:
  - hosts: ["example.test", "*.example.test"]
    origins: ["http://127.0.0.1:3000"]
cache:
  memory: { maxBytes: 256MiB, maxObjectBytes: 16MiB }
`);
  assert.deepEqual(problems, []);
  assert.ok(config);
  assert.equal(config.node.id, 'edge-eu-1');
  assert.equal(config.cache.memory.maxBytes, 256 * 1024 ** 2);
  assert.equal(config.cache.memory.maxObjectBytes, 16 * 1024 ** 2);
});

test('sizes and durations are accepted as strings with units and as bare numbers', () => {
  const { config } = validateConfig({
    ...minimal,
    cache: { memory: { maxBytes: '10 MB', maxObjectBytes: 4096 }, hitForPass: '5m' },
    server: { headersTimeout: '30s', maxHeaderBytes: '32KiB' },
    upstream: { connectTimeout: '250ms', headersTimeout: 1500 },
  });
  assert.ok(config);
  assert.equal(config.cache.memory.maxBytes, 10_000_000);
  assert.equal(config.cache.memory.maxObjectBytes, 4096);
  assert.equal(config.cache.hitForPass, 300_000);
  assert.equal(config.server.headersTimeout, 30_000);
  assert.equal(config.server.maxHeaderBytes, 32 * 1024);
  assert.equal(config.upstream.connectTimeout, 250);
  assert.equal(config.upstream.headersTimeout, 1500);
});

test('defaults are filled for every section left out', () => {
  const { config } = validateConfig(minimal);
  assert.ok(config);
  assert.deepEqual(config.node, { id: 'strata', region: 'local', addresses: [] });
  assert.deepEqual(config.listen, { http: '127.0.0.1:8080', admin: '127.0.0.1:9090', https: undefined });
  assert.equal(config.cache.memory.maxBytes, 256 * 1024 ** 2);
  assert.equal(config.cache.memory.maxObjectBytes, 16 * 1024 ** 2);
  assert.equal(config.server.maxHeaders, 100);
  assert.equal(config.server.maxBodyBytes, 64 * 1024 ** 2);
  assert.equal(config.upstream.headersTimeout, 30_000);
  assert.equal(config.proxy.trustForwarded, false);
  assert.equal(config.shutdown.drainTimeout, 10_000);
  const site = config.sites[0];
  assert.deepEqual(site.cacheKey, { query: 'keep', dropParams: [], scheme: 'keep' });
  assert.equal(site.ignoreClientNoCache, false);
  assert.equal(site.originHost, undefined);
});

test('defaults are copies: two configs never share a default object', () => {
  const a = validateConfig(minimal).config;
  const b = validateConfig(minimal).config;
  assert.ok(a && b);
  assert.notEqual(a.sites[0].cacheKey.dropParams, b.sites[0].cacheKey.dropParams);
});

test('the result is deeply frozen', () => {
  const { config } = validateConfig(minimal);
  assert.ok(config);
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.cache.memory));
  assert.ok(Object.isFrozen(config.sites[0].hosts));
  assert.throws(() => {
    (config.server as { maxHeaders: number }).maxHeaders = 1;
  }, TypeError);
  assert.throws(() => (config.sites[0].hosts as string[]).push('x'), TypeError);
});

test('unknown keys are errors at any depth, named by their path', () => {
  const problems = problemsOf({
    ...minimal,
    colour: 'blue',
    cache: { memory: { maxBytes: '64MiB', maxObjectByte: '1KiB' } },
    sites: [{ ...minimal.sites[0], cacheKey: { query: 'keep', drop: ['a'] } }],
  });
  hasProblem(problems, 'colour', /unknown key/);
  hasProblem(problems, 'cache.memory.maxObjectByte', /unknown key.*maxObjectBytes/);
  hasProblem(problems, 'sites[0].cacheKey.drop', /unknown key.*dropParams/);
  assert.equal(problems.length, 3);
});

test('keys that exist on Object.prototype are unknown keys too', () => {
  const problems = problemsOf({ ...minimal, constructor: 1, toString: 'x', node: { hasOwnProperty: 1 } });
  hasProblem(problems, 'constructor', /unknown key/);
  hasProblem(problems, 'toString', /unknown key/);
  hasProblem(problems, 'node.hasOwnProperty', /unknown key/);
});

test('wrong types name the key path and what was expected', () => {
  const problems = problemsOf({
    ...minimal,
    node: { id: 42 },
    server: { maxHeaders: 'many', maxBodyBytes: '10 parsecs', headersTimeout: '1 fortnight' },
    proxy: { trustForwarded: 'yes' },
    log: { level: 'loud' },
    cache: { heuristicFraction: 2, memory: 'big' },
  });
  hasProblem(problems, 'node.id', /non-empty string/);
  hasProblem(problems, 'server.maxHeaders', /integer from 8 to 1000, got "many"/);
  hasProblem(problems, 'server.maxBodyBytes', /size such as .*"10 parsecs"/);
  hasProblem(problems, 'server.headersTimeout', /duration such as .*"1 fortnight"/);
  hasProblem(problems, 'proxy.trustForwarded', /true or false, got "yes"/);
  hasProblem(problems, 'log.level', /one of fatal, error/);
  hasProblem(problems, 'cache.heuristicFraction', /number from 0 to 1, got 2/);
  hasProblem(problems, 'cache.memory', /expected a mapping/);
});

test('sites is required, and must not be empty', () => {
  hasProblem(problemsOf({}), 'sites', /is required/);
  hasProblem(problemsOf({ sites: [] }), 'sites', /at least 1 item/);
  hasProblem(problemsOf({ sites: 'example.test' }), 'sites', /expected a list of sites/);
  hasProblem(problemsOf({ sites: ['example.test'] }), 'sites[0]', /expected a mapping/);
  const missing = problemsOf({ sites: [{}] });
  hasProblem(missing, 'sites[0].hosts', /is required/);
  hasProblem(missing, 'sites[0].origins', /is required/);
});

test('bad host patterns are refused with the index of the host', () => {
  const problems = problemsOf({
    sites: [
      {
        hosts: ['ok.test', 'exa mple.test', 'a.*.test', '**', 'host:8080', 'http://x.test', ''],
        origins: ['http://127.0.0.1:3000'],
      },
    ],
  });
  for (const i of [1, 2, 3, 4, 5]) hasProblem(problems, `sites[0].hosts[${i}]`, /is not valid/);
  hasProblem(problems, 'sites[0].hosts[6]', /non-empty string/);
  assert.equal(
    problems.find((p) => p.path === 'sites[0].hosts[0]'),
    undefined,
  );
});

test('accepted host patterns: exact, wildcard, trailing dot, catch-all', () => {
  const { config, problems } = validateConfig({
    sites: [{ hosts: ['Example.Test', '*.example.test', 'other.test.', '*'], origins: ['http://o:1'] }],
  });
  assert.deepEqual(problems, []);
  assert.ok(config);
});

test('bad origin URLs are refused with the index of the origin', () => {
  const problems = problemsOf({
    sites: [
      {
        hosts: ['a.test'],
        origins: [
          'http://127.0.0.1:3000',
          'ftp://127.0.0.1',
          'http://127.0.0.1:3000/prefix',
          '127.0.0.1:3000',
          'http://127.0.0.1:99999',
          'http://user:pw@127.0.0.1',
          'http://o.test/?q=1',
        ],
      },
    ],
  });
  for (const i of [1, 2, 3, 4, 5, 6]) hasProblem(problems, `sites[0].origins[${i}]`, /is not valid/);
  hasProblem(problems, 'sites[0].origins[4]', /port/);
  hasProblem(problems, 'sites[0].origins[5]', /credentials/);
  assert.equal(problems.length, 6);
});

test('listen addresses must be host:port with a real port', () => {
  const problems = problemsOf({ ...minimal, listen: { http: '8080', admin: '127.0.0.1:70000' } });
  hasProblem(problems, 'listen.http', /host:port/);
  hasProblem(problems, 'listen.admin', /port must be 0 to 65535/);
  hasProblem(
    problemsOf({ ...minimal, listen: { http: '127.0.0.1:8080', admin: '127.0.0.1:8080' } }),
    'listen.admin',
    /must differ from listen.http/,
  );
  assert.ok(validateConfig({ ...minimal, listen: { http: '[::1]:0', admin: '[::1]:0' } }).config);
});

test('a host served by two sites is refused, whatever its case or trailing dot', () => {
  const problems = problemsOf({
    sites: [
      { hosts: ['a.test', '*.b.test'], origins: ['http://o:1'] },
      { hosts: ['A.TEST.', 'c.test'], origins: ['http://o:2'] },
      { hosts: ['*.B.test', 'c.test'], origins: ['http://o:3'] },
    ],
  });
  hasProblem(problems, 'sites[1].hosts[0]', /"A.TEST." is already served by sites\[0\]/);
  hasProblem(problems, 'sites[2].hosts[0]', /already served by sites\[0\]/);
  hasProblem(problems, 'sites[2].hosts[1]', /already served by sites\[1\]/);
  assert.equal(problems.length, 3);
  hasProblem(
    problemsOf({ sites: [{ hosts: ['a.test', 'a.test'], origins: ['http://o:1'] }] }),
    'sites[0].hosts[1]',
    /listed twice/,
  );
});

test('maxObjectBytes larger than maxBytes is refused', () => {
  const problems = problemsOf({
    ...minimal,
    cache: { memory: { maxBytes: '1MiB', maxObjectBytes: '2MiB' } },
  });
  hasProblem(problems, 'cache.memory.maxObjectBytes', /must not exceed cache.memory.maxBytes/);
  // The default maxObjectBytes (16MiB) is checked against a smaller maxBytes too.
  hasProblem(
    problemsOf({ ...minimal, cache: { memory: { maxBytes: '8MiB' } } }),
    'cache.memory.maxObjectBytes',
    /must not exceed/,
  );
});

test('cache.maxFillBytes must take the largest storable object', () => {
  hasProblem(
    problemsOf({ ...minimal, cache: { maxFillBytes: '8MiB' } }),
    'cache.maxFillBytes',
    /must be at least the largest storable object, 16777216 bytes/,
  );
  // With a disk tier, its default maxObjectBytes (64MiB) counts too.
  hasProblem(
    problemsOf({ ...minimal, cache: { maxFillBytes: '32MiB', disk: { path: '/tmp/x', maxBytes: '1GiB' } } }),
    'cache.maxFillBytes',
    /67108864 bytes/,
  );
  assert.ok(validateConfig({ ...minimal, cache: { maxFillBytes: '16MiB' } }).config);
});

test('server.headersTimeout larger than server.requestTimeout is refused (Node would throw at start)', () => {
  hasProblem(
    problemsOf({ ...minimal, server: { headersTimeout: '2m' } }),
    'server.headersTimeout',
    /must not exceed server.requestTimeout \(120000ms > 60000ms\)/,
  );
  assert.ok(validateConfig({ ...minimal, server: { headersTimeout: '2m', requestTimeout: '2m' } }).config);
});

test('several problems are reported at once, including cross-field ones', () => {
  const problems = problemsOf({
    bogus: true,
    sites: [
      { hosts: ['a.test'], origins: ['nope'] },
      { hosts: ['a.test'], origins: ['http://o:1'] },
    ],
    cache: { memory: { maxBytes: '1MiB', maxObjectBytes: '2MiB' } },
    server: { maxHeaders: 0 },
  });
  assert.deepEqual(problems.map((p) => p.path).sort(), [
    'bogus',
    'cache.memory.maxObjectBytes',
    'server.maxHeaders',
    'sites[0].origins[0]',
    'sites[1].hosts[0]',
  ]);
});

test('YAML syntax errors are reported with their line, on one line each', () => {
  const { config, problems } = parseConfigText(
    'node:\n  id: a\nsites:\n  - hosts: ["a.test"]\n    origins: ["http://o:1"\n',
  );
  assert.equal(config, undefined);
  assert.ok(problems.length > 0);
  assert.match(problems[0].path, /^\(yaml line \d+\)$/);
  for (const p of problems) assert.doesNotMatch(p.message, /\n/);
  const dup = parseConfigText('sites: []\nnode: {id: a}\nnode: {id: b}\n').problems;
  assert.deepEqual(dup[0].path, '(yaml line 3)');
  assert.match(dup[0].message, /unique/);
});

test('YAML values are validated like any other input: an empty file lacks sites', () => {
  hasProblem(parseConfigText('').problems, 'sites', /is required/);
  hasProblem(parseConfigText('just a string').problems, '(root)', /expected a mapping/);
});

test('loadConfig throws CONFIG_INVALID listing every problem with its path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'edge.yaml');
  await writeFile(file, 'sites:\n  - hosts: ["a.test"]\n    origins: ["nope"]\ncolour: blue\n');
  const err = await loadConfig(file).then(
    () => assert.fail('expected CONFIG_INVALID'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StrataError);
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.match(err.message, /sites\[0\]\.origins\[0\]: "nope" is not valid/);
  assert.match(err.message, /colour: unknown key/);
  const missing = await loadConfig(join(dir, 'absent.yaml')).catch((e: unknown) => e);
  assert.ok(missing instanceof StrataError);
  assert.equal(missing.code, 'CONFIG_INVALID');
  assert.match(missing.message, /ENOENT/);
});

test('shields: URLs are checked, each listed once, per site too', () => {
  const problems = problemsOf({
    ...minimal,
    shields: [{ url: 'http://10.0.0.7:8080' }, { url: 'http://10.0.0.7:8080/' }, { url: 'ftp://x' }],
    sites: [{ ...minimal.sites[0], shields: [{ url: 'http://a:1' }, { url: 'http://a:1' }] }],
    shieldFallback: 'origin',
  });
  hasProblem(problems, 'shields[1].url', /listed twice/);
  hasProblem(problems, 'shields[2].url', /http/);
  hasProblem(problems, 'sites[0].shields[1].url', /listed twice/);
  hasProblem(problems, 'shieldFallback', /direct.*fail/);
});

test('proxy.trustedProxies takes addresses and CIDR blocks, and names a bad entry', () => {
  const { config } = validateConfig({
    ...minimal,
    proxy: { trustedProxies: ['10.0.0.0/8', '::1', 'fd00::/8'] },
  });
  assert.deepEqual(config?.proxy.trustedProxies, ['10.0.0.0/8', '::1', 'fd00::/8']);
  const problems = problemsOf({
    ...minimal,
    proxy: { trustedProxies: ['10.0.0.0/33', '1.2.3', 'fd00::/129'] },
  });
  hasProblem(problems, 'proxy.trustedProxies[0]', /too long for IPv4/);
  hasProblem(problems, 'proxy.trustedProxies[1]', /not an IP address/);
  hasProblem(problems, 'proxy.trustedProxies[2]', /too long for IPv6/);
});

test('upstream.attempts and upstream.health have defaults and bounds', () => {
  const { config } = validateConfig(minimal);
  assert.equal(config?.upstream.attempts, 3);
  assert.deepEqual(config?.upstream.health, {
    failures: 1,
    openFor: 10_000,
    probeInterval: 2000,
    probeTimeout: 1000,
  });
  const problems = problemsOf({
    ...minimal,
    upstream: { attempts: 0, health: { failures: 0, openFor: '1ms' } },
  });
  hasProblem(problems, 'upstream.attempts', /1/);
  hasProblem(problems, 'upstream.health.failures', /1/);
  hasProblem(problems, 'upstream.health.openFor', /100ms|at least/);
});

test('workers: auto or 1 to 256, with or without a disk tier', () => {
  assert.equal(validateConfig(minimal).config?.workers, 'auto');
  assert.equal(validateConfig({ ...minimal, workers: 'auto' }).config?.workers, 'auto');
  hasProblem(problemsOf({ ...minimal, workers: 0 }), 'workers', /auto or an integer from 1 to 256/);
  hasProblem(problemsOf({ ...minimal, workers: 'all' }), 'workers', /auto or an integer/);
  const disk = { disk: { path: '/tmp/x', maxBytes: '64MiB' } };
  assert.deepEqual(validateConfig({ ...minimal, workers: 2, cache: disk }).problems, []);
  assert.deepEqual(validateConfig({ ...minimal, workers: 1, cache: disk }).problems, []);
});

test('a worker gets its share of the memory budget, and the largest object still fits', () => {
  const { config } = validateConfig({
    ...minimal,
    workers: 4,
    cache: { memory: { maxBytes: '64MiB', maxObjectBytes: '32MiB' }, maxFillBytes: '64MiB' },
  });
  const share = workerConfig(config!, 4);
  assert.equal(share.workers, 1);
  assert.equal(share.cache.memory.maxBytes, 16 * 1024 ** 2);
  assert.equal(share.cache.memory.maxObjectBytes, 16 * 1024 ** 2);
  assert.equal(share.cache.maxFillBytes, 16 * 1024 ** 2);
  assert.throws(() => workerConfig(config!, 128), /cache\.memory\.maxBytes: must be at least/);
});

test('workers: auto is one per CPU this process may use, fewer under a cgroup CPU quota', async (t) => {
  const dir = await tempDir(t, 'strata-cgroup');
  const quota = (text: string) => {
    writeFileSync(join(dir, 'cpu.max'), text);
    return cgroupCpuQuota(join(dir, 'cpu.max'));
  };
  assert.equal(quota('max 100000\n'), undefined);
  assert.equal(quota('200000 100000\n'), 2);
  assert.equal(quota('150000 100000\n'), 2);
  assert.equal(quota('50000 100000\n'), 1);
  assert.equal(cgroupCpuQuota(join(dir, 'absent')), undefined);
  const auto = validateConfig(minimal).config!;
  assert.equal(workerCount(auto, undefined), availableParallelism());
  assert.equal(workerCount(auto, 1), 1);
  assert.equal(workerCount(validateConfig({ ...minimal, workers: 3 }).config!, 1), 3);
});

test('a worker gets its share of the disk tier, and the fill budget still takes the largest object', () => {
  const { config } = validateConfig({
    ...minimal,
    workers: 2,
    cache: { disk: { path: '/tmp/x', maxBytes: '1GiB', maxObjectBytes: '600MiB' }, maxFillBytes: '600MiB' },
  });
  const share = workerConfig(config!, 2);
  assert.equal(share.cache.disk?.maxBytes, 512 * 1024 ** 2);
  assert.equal(share.cache.disk?.maxObjectBytes, 512 * 1024 ** 2);
  assert.equal(share.cache.maxFillBytes, 512 * 1024 ** 2);
});

test('the disk tiers of workers past the configured count are removed, and nothing else', async (t) => {
  const path = await tempDir(t, 'strata-shards');
  for (const name of ['worker-0', 'worker-1', 'worker-2', 'worker-10', 'keep-me'])
    mkdirSync(join(path, name));
  const { config } = validateConfig({ ...minimal, workers: 2, cache: { disk: { path, maxBytes: '64MiB' } } });
  assert.deepEqual(removeStaleShards(config!, 2).sort(), ['worker-10', 'worker-2']);
  assert.deepEqual(readdirSync(path).sort(), ['keep-me', 'worker-0', 'worker-1']);
  assert.deepEqual(removeStaleShards(validateConfig(minimal).config!, 1), []);
});

test('node.addresses are the IP addresses a node advertises: no unspecified or repeated one, and the heartbeat carries them', () => {
  const problems = problemsOf({
    ...minimal,
    node: { addresses: ['192.0.2.10', 'edge.example', '0.0.0.0', '::', '192.0.2.10'] },
  });
  hasProblem(problems, 'node.addresses[1]', /not an IP address|IPv4 or IPv6/);
  hasProblem(problems, 'node.addresses[2]', /unspecified/);
  hasProblem(problems, 'node.addresses[3]', /unspecified/);
  hasProblem(problems, 'node.addresses[4]', /listed twice/);
  const { config } = validateConfig({ ...minimal, node: { addresses: ['192.0.2.10', '2001:db8::10'] } });
  assert.deepEqual(config?.node.addresses, ['192.0.2.10', '2001:db8::10']);
  assert.deepEqual(nodeAddresses(config!.node.addresses, ['0.0.0.0:8080']), ['192.0.2.10', '2001:db8::10']);
  // Without them: the listeners' bind addresses.
  assert.deepEqual(validateConfig(minimal).config?.node.addresses, []);
  assert.deepEqual(nodeAddresses([], ['127.0.0.1:8080', '[::1]:8443']), ['127.0.0.1', '::1']);
});
