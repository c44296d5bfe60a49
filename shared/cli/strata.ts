#!/usr/bin/env node
// The strata command: run an edge or a shield, check a config, run the demo or its origin alone,
// purge across the fleet.

import { heapProblem } from '../heap.js';
import { reloadRoute, type ReloadOutcome } from '../admin-reload.js';
import { BearerToken, readToken } from '../bearer-token.js';
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import cluster from 'node:cluster';
import {
  configError,
  configJsonSchema,
  loadConfig,
  parseConfigText,
  validateAnyConfig,
  type StrataConfig,
} from '../config/config.js';
import { createLogging } from '../log.js';
import { Supervisor } from '../cluster/supervisor.js';
import { runWorker } from '../cluster/worker.js';
import { workerCount } from '../cluster/worker-config.js';
import type { Problem } from '../config/schema.js';
import { StrataError } from '../errors.js';
import { authority, parseHostPort } from '../http/listen.js';
import { atAnyLevel, listening, StrataNode } from '../node.js';
import type { NodeRole, RoleName } from '../node-role.js';
import { edgeRole } from '../../edge/edge-role.js';
import { shieldRole } from '../../shield/shield-role.js';
import { runDemo } from './demo.js';
import { DemoOrigin } from './demo-origin.js';
import { purgeCommand, purgeUsage } from './purge-command.js';
import { DnsNode } from '../../edge/geo/dns-node.js';

const usage: Record<string, string> = {
  main: `Usage: strata <command> [options]

Commands:
  edge --config FILE       run an edge node (faces clients)
  shield --config FILE     run an origin shield node (faces edges, protects origins)
  dns --config FILE        run the GeoDNS server alone (the config's dns and geo sections)
  config check FILE        validate a config file; print every problem with its key path
  config schema            print the config's JSON Schema (for editors)
  demo                     run a demo region: an origin, a shield and two edges (npm start)
  demo-origin              run only the demo origin, for an edge started on its own
  purge [URL...] [options] purge on every node (--tag, --prefix, --host, --all, --soft)

Options:
  -h, --help               show help for a command

Docs: docs/cli.md, docs/configuration.md`,
  edge: `Usage: strata edge --config FILE

Runs an edge node: the caching HTTP proxy and its admin listener.
SIGTERM or SIGINT drains in-flight requests (shutdown.drainTimeout) and exits.
SIGHUP (or POST /reload on the admin listener) reloads the HTTPS certificates
(listen.https) from disk; with workers above 1 it also reloads the config file,
replacing the workers one at a time.

Options:
  -c, --config FILE        YAML config (see docs/configuration.md)
  -h, --help               show this help`,
  shield: `Usage: strata shield --config FILE

Runs an origin shield node: the same caching proxy one tier up, which edges fetch
their misses from and which fetches from the origins. Same config file format as an edge.
SIGTERM or SIGINT drains in-flight requests (shutdown.drainTimeout) and exits.
SIGHUP and POST /reload as for strata edge.

Options:
  -c, --config FILE        YAML config (see docs/configuration.md)
  -h, --help               show this help`,
  dns: `Usage: strata dns --config FILE

Runs the GeoDNS server of the config's dns section, authoritative for dns.zone over UDP
and TCP: A/AAAA for dns.names with the healthy edges of the client's region (geo.regions),
and the admin listener (listen.admin: /healthz, /readyz, /metrics). The same file as an
edge's serves; sites may be absent. SIGTERM or SIGINT stops it.

Options:
  -c, --config FILE        YAML config (see docs/configuration.md)
  -h, --help               show this help`,
  config: `Usage: strata config check FILE
       strata config schema

check validates FILE strictly (a file with dns and no sites as strata dns reads it).
Exit 0 when valid; otherwise prints every problem as "FILE: key.path: message" and exits 1.
schema prints the JSON Schema of the config file on stdout, for YAML editors.`,
  demo: `Usage: strata demo [--port N] [--admin-port N] [--shield-port N] [--origin-port N]

Starts one region on this machine: a small demo origin (cacheable, uncacheable, slow,
large, Vary and tagged routes), an origin shield in front of it and two edges that fetch
their misses from the shield, then prints which is which and curl lines to try.

Options:
  --port N                 first edge's HTTP port; the second edge takes N+1 (default 8080)
  --admin-port N           first edge's admin port; the second edge and the shield take
                           N+1 and N+2 (default 9090)
  --shield-port N          shield's HTTP port (default 8090)
  --origin-port N          demo origin port (default 3000)
                           0 for any option: pick free ports (they are printed)
  -h, --help               show this help`,
  purge: purgeUsage,
  'demo-origin': `Usage: strata demo-origin [--listen HOST:PORT]

Runs only the demo origin (the routes of strata demo), without an edge: an origin for
an edge started with strata edge, as in deploy/docker-compose.yml. SIGTERM or SIGINT stops it.

Options:
  -l, --listen HOST:PORT   address to listen on (default 127.0.0.1:3000; 0.0.0.0:3000
                           to be reachable from other containers)
  -h, --help               show this help`,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    console.error(usage.main);
    return 2;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    console.log(usage.main);
    return 0;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    if (!Object.hasOwn(usage, command) || command === 'main') {
      console.error(`strata: unknown command "${command}"\n\n${usage.main}`);
      return 2;
    }
    console.log(usage[command]);
    return 0;
  }
  switch (command) {
    case 'edge':
      return runNode(edgeRole, rest);
    case 'shield':
      return runNode(shieldRole, rest);
    case 'dns':
      return runDns(rest);
    case 'config':
      return checkConfig(rest);
    case 'demo':
      return demo(rest);
    case 'demo-origin':
      return demoOrigin(rest);
    case 'purge':
      return purgeCommand(rest);
    default:
      console.error(`strata: unknown command "${command}"\n\n${usage.main}`);
      return 2;
  }
}

/** Exit codes: 0 after a graceful stop, 1 on an invalid config or a failed start, 2 on usage errors. */
async function runNode(role: NodeRole, args: string[]): Promise<number> {
  const name: RoleName = role.name;
  const values = parseOptions(args, { config: { type: 'string', short: 'c' } }, usage[name]);
  if (!values) return 2;
  if (typeof values.config !== 'string') {
    console.error(`strata ${name}: --config FILE is required\n\n${usage[name]}`);
    return 2;
  }
  // A worker process of a primary started below (cluster.fork runs this command again).
  if (cluster.isWorker) return runWorker(role);
  let config, token;
  try {
    config = await loadConfig(values.config);
    token = new BearerToken(await readToken(config));
    const problems = role.problems(config);
    // One process must fit its memory tier in its heap; a primary gives its workers the heap they need.
    const heap = workerCount(config) === 1 ? heapProblem(config) : undefined;
    if (heap) problems.push(heap);
    if (problems.length > 0) throw configError(`the ${name} config`, problems);
  } catch (err) {
    printConfigError(values.config, err);
    return 1;
  }
  if (workerCount(config) > 1) return runPrimary(role, values.config, config, token);
  const node = new StrataNode(config, { role });
  // SIGHUP and POST /reload reload the HTTPS certificates (as nginx and haproxy do), never stop
  // the node; one process applies a changed config on restart.
  const reload = async (): Promise<ReloadOutcome> => ({
    config: 'unchanged',
    certificates: await node.reloadCertificates(),
  });
  node.admin.routes.push(reloadRoute(token, reload));
  await node.start();
  const onSignal = () => void reload();
  process.on('SIGHUP', onSignal);
  const signal = await untilSignal();
  process.off('SIGHUP', onSignal);
  node.log.info({ signal, drainMs: config.shutdown.drainTimeout }, `${name} stopping`);
  await node.stop();
  return 0;
}

/** A node with workers > 1: this process supervises them; SIGHUP and POST /reload reload the config file. */
async function runPrimary(
  role: NodeRole,
  file: string,
  config: StrataConfig,
  token: BearerToken,
): Promise<number> {
  const { log, writer } = createLogging({ level: config.log.level, node: config.node.id });
  const supervisor = new Supervisor({ role, configFile: file, config, log });
  supervisor.admin.routes.push(reloadRoute(token, () => supervisor.reload()));
  const started = await supervisor.start();
  atAnyLevel(log).info(
    { ...listening(config, started.httpPort, started.adminPort), workers: started.workers },
    `${role.name} started`,
  );
  const onSignal = () => void supervisor.reload();
  process.on('SIGHUP', onSignal);
  const signal = await untilSignal();
  process.off('SIGHUP', onSignal);
  log.info({ signal, drainMs: config.shutdown.drainTimeout }, `${role.name} stopping`);
  await supervisor.stop();
  log.info(`${role.name} stopped`);
  await writer.close();
  return 0;
}

/** strata dns: exit codes as runNode's. */
async function runDns(args: string[]): Promise<number> {
  const values = parseOptions(args, { config: { type: 'string', short: 'c' } }, usage.dns);
  if (!values) return 2;
  if (typeof values.config !== 'string') {
    console.error(`strata dns: --config FILE is required\n\n${usage.dns}`);
    return 2;
  }
  let config;
  try {
    config = await loadConfig(values.config, 'dns');
  } catch (err) {
    printConfigError(values.config, err);
    return 1;
  }
  const { log, writer } = createLogging({ level: config.log.level, node: config.node.id });
  const node = new DnsNode(config, log);
  try {
    await node.start();
  } catch (err) {
    log.error({ err }, 'dns failed to start');
    await writer.close();
    return 1;
  }
  atAnyLevel(log).info(
    {
      dns: authority(parseHostPort(config.dns!.listen).host, node.dnsPort),
      dnsPort: node.dnsPort,
      admin: authority(parseHostPort(config.listen.admin).host, node.adminPort),
      adminPort: node.adminPort,
    },
    'dns started',
  );
  const signal = await untilSignal();
  log.info({ signal }, 'dns stopping');
  await node.stop();
  log.info('dns stopped');
  await writer.close();
  return 0;
}

/** Prints a CONFIG_INVALID error as "FILE: key.path: message" lines, like config check. */
function printConfigError(file: string, err: unknown): void {
  const problems = err instanceof StrataError ? (err.context.problems as Problem[] | undefined) : undefined;
  if (problems) for (const p of problems) console.error(`${file}: ${p.path}: ${p.message}`);
  else {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    console.error(`${file}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** Parses options strictly; on a usage error prints it with the command's help and returns undefined. */
function parseOptions(
  args: string[],
  options: OptionSpec,
  help: string,
): Record<string, string | boolean | undefined> | undefined {
  try {
    return parseArgs({ args, options, strict: true }).values;
  } catch (err) {
    // node:util's messages start with a capital ("Unknown option '--verbose'"); ours do not.
    const message = (err as Error).message;
    console.error(`strata: ${message.charAt(0).toLowerCase()}${message.slice(1)}\n\n${help}`);
    return undefined;
  }
}

async function checkConfig(args: string[]): Promise<number> {
  const [sub, file, ...extra] = args;
  if (sub === 'schema' && file === undefined) {
    console.log(JSON.stringify(configJsonSchema(), null, 2));
    return 0;
  }
  if (sub !== 'check' || !file || extra.length > 0) {
    console.error(usage.config);
    return 2;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    console.error(`${file}: ${(err as Error).message}`);
    return 1;
  }
  const { problems } = parseConfigText(text, validateAnyConfig);
  if (problems.length === 0) {
    console.log(`${file}: ok`);
    return 0;
  }
  for (const p of problems) console.error(`${file}: ${p.path}: ${p.message}`);
  return 1;
}

async function demo(args: string[]): Promise<number> {
  const values = parseOptions(
    args,
    {
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      'shield-port': { type: 'string' },
      'origin-port': { type: 'string' },
    },
    usage.demo,
  );
  if (!values) return 2;
  const ports = { port: 8080, 'admin-port': 9090, 'shield-port': 8090, 'origin-port': 3000 };
  for (const name of Object.keys(ports) as (keyof typeof ports)[]) {
    const value = values[name];
    if (value === undefined) continue;
    const port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`strata demo: --${name} expects a port from 0 to 65535, got "${value}"\n\n${usage.demo}`);
      return 2;
    }
    ports[name] = port;
  }
  const stop = await runDemo({
    port: ports.port,
    adminPort: ports['admin-port'],
    shieldPort: ports['shield-port'],
    originPort: ports['origin-port'],
  });
  await untilSignal();
  await stop();
  return 0;
}

/** Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot listen, 2 on usage errors. */
async function demoOrigin(args: string[]): Promise<number> {
  const help = usage['demo-origin'];
  const values = parseOptions(args, { listen: { type: 'string', short: 'l' } }, help);
  if (!values) return 2;
  const address = typeof values.listen === 'string' ? values.listen : '127.0.0.1:3000';
  if (!listenAddress.test(address) || parseHostPort(address).port > 65535) {
    console.error(
      `strata demo-origin: --listen expects HOST:PORT such as 0.0.0.0:3000, got "${address}"\n\n${help}`,
    );
    return 2;
  }
  const origin = new DemoOrigin();
  const port = await origin.start(address);
  console.error(`Strata demo origin listening on http://${authority(parseHostPort(address).host, port)}`);
  await untilSignal();
  await origin.stop();
  return 0;
}

/** host:port as config's listen addresses take it: a name, IPv4, or [IPv6], and a port. */
const listenAddress = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/**
 * Resolves with the first SIGTERM or SIGINT. The handlers are removed then, so a second
 * signal during the drain terminates the process at once (the usual "press Ctrl-C again").
 */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(
      `strata: ${err instanceof StrataError || err instanceof Error ? err.message : String(err)}`,
    );
    process.exitCode = 1;
  },
);
