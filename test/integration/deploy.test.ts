// The shipped deploy files: deploy/config/edge-local.yaml and shield-local.yaml load with the real
// config loader and run in their roles, and the compose file and the Dockerfile stay in step with
// them (ports, paths, shield and origin addresses, drain time).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../shared/config/config.js';
import { parseDuration } from '../../shared/config/units.js';
import { parseHostPort } from '../../shared/http/listen.js';
import { runCli } from '../helpers/cli.js';
import { edgeRole } from '../../edge/edge-role.js';
import { shieldRole } from '../../shield/shield-role.js';

/** A repository path, from this file's place in dist/test/integration/. */
const repoPath = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const edgeConfigFile = repoPath('deploy/config/edge-local.yaml');
const shieldConfigFile = repoPath('deploy/config/shield-local.yaml');

interface ComposeService {
  command?: string[];
  image?: string;
  secrets?: string[];
  volumes?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file: string }>;
}

async function composeFile(): Promise<ComposeFile> {
  return parse(await readFile(repoPath('deploy/docker-compose.yml'), 'utf8')) as ComposeFile;
}

async function compose(): Promise<Record<string, ComposeService>> {
  return (await composeFile()).services;
}

test('deploy/config/edge-local.yaml loads with the real config loader', async () => {
  const config = await loadConfig(edgeConfigFile);
  // In a container, loopback listeners are unreachable through published ports.
  assert.equal(parseHostPort(config.listen.http).host, '0.0.0.0');
  assert.equal(parseHostPort(config.listen.admin).host, '0.0.0.0');
  assert.deepEqual(config.sites[0].hosts, ['*']);
  assert.ok(Object.isFrozen(config.sites[0]));
});

test('strata config check accepts both deploy configs, and each role takes its own', async (t) => {
  for (const file of [edgeConfigFile, shieldConfigFile]) {
    const run = runCli(t, ['config', 'check', file]);
    assert.equal(await run.exited, 0, run.stderr());
    assert.match(run.stdout(), /: ok$/m);
  }
  assert.deepEqual(edgeRole.problems(await loadConfig(edgeConfigFile)), []);
  assert.deepEqual(shieldRole.problems(await loadConfig(shieldConfigFile)), []);
});

test('docker-compose.yml runs the shield on its config, where the edge looks for it', async () => {
  const edgeConfig = await loadConfig(edgeConfigFile);
  const shieldConfig = await loadConfig(shieldConfigFile);
  const { shield, edge } = await compose();
  assert.deepEqual(shield.command, ['shield', '--config', '/etc/strata/shield-local.yaml']);
  assert.ok(shield.volumes?.includes('./config:/etc/strata:ro'));
  const shieldUrl = new URL(edgeConfig.shields[0].url);
  assert.equal(shieldUrl.hostname, 'shield');
  assert.equal(Number(shieldUrl.port), parseHostPort(shieldConfig.listen.http).port);
  assert.equal(parseHostPort(shieldConfig.listen.http).host, '0.0.0.0');
  // The same site on both tiers, and the shield trusts the compose network's addresses.
  assert.deepEqual(shieldConfig.sites[0].hosts, edgeConfig.sites[0].hosts);
  assert.deepEqual(shieldConfig.sites[0].origins, edgeConfig.sites[0].origins);
  assert.ok(shieldConfig.proxy.trustedProxies.includes('172.16.0.0/12'));
  assert.equal(edge.depends_on?.shield.condition, 'service_healthy');
  assert.ok(parseDuration(shield.stop_grace_period)! > shieldConfig.shutdown.drainTimeout);
});

test('docker-compose.yml runs the edge on the shipped config, in step with it', async () => {
  const config = await loadConfig(edgeConfigFile);
  const { edge, origin } = await compose();
  // The edge reads the file from the mounted folder.
  const mount = edge.volumes?.find((v) => v.startsWith('./config:'));
  assert.ok(mount, 'deploy/config/ is mounted into the edge');
  const target = mount.split(':')[1];
  assert.deepEqual(edge.command, ['edge', '--config', `${target}/edge-local.yaml`]);
  // Both listeners are published.
  for (const address of [config.listen.http, config.listen.admin]) {
    const { port } = parseHostPort(address);
    assert.ok(
      edge.ports?.some((p) => p.endsWith(`:${port}`)),
      `container port ${port} (${address}) is published`,
    );
  }
  // The site's origin is the compose service "origin", which listens where the config points.
  const originUrl = new URL(config.sites[0].origins[0]);
  assert.equal(originUrl.hostname, 'origin');
  assert.deepEqual(origin.command, ['demo-origin', '--listen', `0.0.0.0:${originUrl.port}`]);
  assert.equal(new URL(origin.environment!.STRATA_HEALTHCHECK_URL).port, originUrl.port);
  assert.equal(edge.depends_on?.origin.condition, 'service_healthy');
  // The drain ends before the container runtime's SIGKILL.
  assert.ok(parseDuration(edge.stop_grace_period)! > config.shutdown.drainTimeout);
});

test('both nodes purge through the compose service redis, with the token from a compose secret', async () => {
  const file = await composeFile();
  const { redis } = file.services;
  assert.ok(redis.command?.includes('--appendonly'), 'the purge log survives a Redis restart');
  for (const [name, configFile] of [
    ['edge', edgeConfigFile],
    ['shield', shieldConfigFile],
  ] as const) {
    const { purge } = await loadConfig(configFile);
    assert.equal(purge.redis, 'redis://redis:6379', `${name}: purge.redis`);
    const service = file.services[name];
    assert.equal(service.depends_on?.redis.condition, 'service_healthy');
    // Compose mounts a service's secret at /run/secrets/NAME.
    assert.deepEqual(
      service.secrets?.map((secret) => `/run/secrets/${secret}`),
      [purge.tokenFile],
      `${name}: purge.tokenFile is its secret`,
    );
  }
  assert.equal(file.secrets?.['purge-token'].file, './purge-token');
  const ignored = await readFile(repoPath('.gitignore'), 'utf8');
  assert.match(ignored, /^\/deploy\/purge-token$/m, 'the token file stays out of git');
});

test('the Dockerfile runs strata as node and checks the configured admin port', async () => {
  const config = await loadConfig(edgeConfigFile);
  const dockerfile = await readFile(repoPath('deploy/Dockerfile'), 'utf8');
  assert.match(dockerfile, /^ENTRYPOINT \["node", "dist\/shared\/cli\/strata\.js"\]$/m);
  assert.match(dockerfile, /^USER node$/m);
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile);
  assert.ok(cmd, 'a default CMD');
  assert.deepEqual(JSON.parse(cmd[1]), ['edge', '--config', '/etc/strata/edge.yaml']);
  const healthUrl = /^ENV STRATA_HEALTHCHECK_URL=(\S+)$/m.exec(dockerfile);
  assert.ok(healthUrl, 'a default health check URL');
  assert.equal(new URL(healthUrl[1]).pathname, '/healthz');
  assert.equal(Number(new URL(healthUrl[1]).port), parseHostPort(config.listen.admin).port);
});
