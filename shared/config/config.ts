// The Strata config: one schema per section, validated strictly at load, defaulted, frozen.
// The shape is a public contract (docs/configuration.md): later features add keys, never rename.

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { StrataError } from '../errors.js';
import {
  bool,
  deepFreeze,
  duration,
  int,
  join,
  list,
  num,
  obj,
  oneOf,
  optional,
  refine,
  size,
  str,
  withDefault,
  type Infer,
  type JsonSchema,
  type Problem,
} from './schema.js';

const hostPort = str({
  pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
  hint: 'host:port, e.g. 127.0.0.1:8080 or [::1]:8080',
  valid: (v) => (Number(v.slice(v.lastIndexOf(':') + 1)) > 65535 ? 'the port must be 0 to 65535' : undefined),
});
const cidr = str({
  pattern: /^[0-9A-Fa-f:.]+(\/\d{1,3})?$/,
  hint: 'an IP address or CIDR block such as 10.0.0.0/8 or ::1',
  valid: cidrProblem,
});

/** What is wrong with an address or CIDR block of the right shape, or undefined. */
function cidrProblem(value: string): string | undefined {
  const [address, bits] = value.split('/');
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  if (bits !== undefined && Number(bits) > (family === 4 ? 32 : 128))
    return `a /${bits} prefix is too long for IPv${family}`;
  return undefined;
}

const hostPattern = str({
  pattern: /^(\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?)$/,
  hint: 'a host name, *.domain wildcard, or * alone',
});
const originUrl = str({
  pattern: /^https?:\/\/[^/?#\s]+\/?$/,
  hint: 'an origin URL such as http://10.0.0.5:8080 (scheme, host and port only)',
  valid: originProblem,
});

/** What is wrong with an origin URL that has the right shape, or undefined. */
function originProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URL (is the port 0 to 65535?)';
  }
  if (url.hostname === '') return 'the origin needs a host';
  if (url.username || url.password) return 'credentials in an origin URL are not supported';
  return undefined;
}

const regionName = str({ pattern: /^[A-Za-z0-9._-]+$/, hint: 'letters, digits, . _ -' });

/** A path to GET for an active health probe, e.g. /healthz. */
const probePath = str({ pattern: /^\/[^\s#]*$/, hint: 'a path such as /healthz' });

/** An origin shield an edge fetches its misses from. */
const shield = obj({
  url: originUrl,
  /** The shield's region; shields in the edge's own region (node.region) are preferred. */
  region: optional(regionName),
  /** URL of the shield's active health probe; default: the shield's /.well-known/strata/health. */
  probe: optional(
    str({ pattern: /^https?:\/\/[^/?#\s]+\/\S*$/, hint: 'a URL such as http://10.0.0.7:9090/readyz' }),
  ),
});

const site = obj({
  hosts: list(hostPattern, { min: 1 }),
  origins: list(originUrl, { min: 1 }),
  /** GET this path on each origin every upstream.health.probeInterval; absent: passive health only. */
  originProbe: optional(probePath),
  /** The shields of this site's misses instead of the top-level shields ([]: straight to the origins). */
  shields: optional(list(shield)),
  /** Host header sent upstream; default: the one the client sent. */
  originHost: optional(str()),
  cacheKey: obj({
    query: withDefault(oneOf('keep', 'sort', 'ignore'), 'keep'),
    dropParams: withDefault(list(str()), []),
  }),
  /** Treat client Cache-Control: no-cache / max-age=0 / Pragma as absent (common on CDNs). */
  ignoreClientNoCache: withDefault(bool(), false),
  /**
   * When the origin fails, serve a stored response this long past its freshness, as if it said
   * stale-if-error (RFC 5861); never one that forbids stale (must-revalidate, s-maxage, ...).
   */
  staleIfError: withDefault(duration(), 0),
  /**
   * Serve a stored response this long past its freshness while one background request
   * revalidates it, as if it said stale-while-revalidate (RFC 5861); same exceptions.
   */
  staleWhileRevalidate: withDefault(duration(), 0),
});

const configSchema = obj({
  node: obj({
    id: withDefault(str({ pattern: /^[A-Za-z0-9._-]+$/, hint: 'letters, digits, . _ -' }), 'strata'),
    region: withDefault(regionName, 'local'),
  }),
  listen: obj({
    http: withDefault(hostPort, '127.0.0.1:8080'),
    admin: withDefault(hostPort, '127.0.0.1:9090'),
  }),
  sites: list(site, { min: 1, what: 'sites, each with hosts and origins' }),
  /** Origin shields edges fetch misses from, chosen per cache key by rendezvous hashing. */
  shields: withDefault(list(shield), []),
  /** With no healthy shield: go to the origins (direct) or answer 503 (fail). */
  shieldFallback: withDefault(oneOf('direct', 'fail'), 'direct'),
  cache: obj({
    memory: obj({
      maxBytes: withDefault(size(1024 * 1024), 256 * 1024 ** 2),
      maxObjectBytes: withDefault(size(1), 16 * 1024 ** 2),
    }),
    /**
     * Most body bytes that responses being received and stored may hold at once, all together;
     * a response that would go over it is streamed to its clients without being stored.
     */
    maxFillBytes: withDefault(size(1024 * 1024), 256 * 1024 ** 2),
    /** Most variants (Vary) kept per URL; older variants are replaced. */
    maxVariants: withDefault(int(1, 1024), 16),
    /** How long an uncacheable response makes its URL skip request collapsing. */
    hitForPass: withDefault(duration(), 60_000),
    /** Fraction of (Date - Last-Modified) used as heuristic freshness (RFC 9111 §4.2.2). */
    heuristicFraction: withDefault(num(0, 1), 0.1),
    /** Upper bound of a heuristic freshness lifetime. */
    heuristicMax: withDefault(duration(), 86_400_000),
    /** The disk tier under memory (docs/disk-tier.md); absent: memory only. */
    disk: optional(
      obj({
        /** LevelDB directory, created if missing; one node per directory. */
        path: str(),
        maxBytes: size(1024 * 1024),
        /** Largest object stored on disk; default 64MiB, or maxBytes when that is smaller. */
        maxObjectBytes: optional(size(1)),
        /** Body chunk size; a Range reads only the chunks it needs. */
        chunkBytes: withDefault(size(4096), 256 * 1024),
        /** At start, a database that cannot be opened stops the node, or it runs memory-only. */
        onOpenError: withDefault(oneOf('fail', 'memory-only'), 'fail'),
        /** Write-behind queue from memory to disk; when full, disk writes are skipped and counted. */
        writeQueue: obj({
          maxObjects: withDefault(int(1, 1_000_000), 1024),
          maxBytes: withDefault(size(0), 64 * 1024 ** 2),
        }),
        /** After a failed write (full disk, I/O error), disk writes stay off this long. */
        writeRetry: withDefault(duration(1), 30_000),
        /** How often last-access times (the LRU order kept across restarts) are persisted. */
        accessFlush: withDefault(duration(100), 60_000),
      }),
    ),
  }),
  server: obj({
    headersTimeout: withDefault(duration(100), 10_000),
    requestTimeout: withDefault(duration(100), 60_000),
    keepAliveTimeout: withDefault(duration(100), 5_000),
    /** A client must take some response bytes at least this often while a response is sent. */
    sendTimeout: withDefault(duration(100), 60_000),
    maxHeaderBytes: withDefault(size(1024), 16 * 1024),
    maxHeaders: withDefault(int(8, 1000), 100),
    maxBodyBytes: withDefault(size(0), 64 * 1024 ** 2),
    maxConnections: withDefault(int(1, 1_000_000), 10_000),
  }),
  upstream: obj({
    connectTimeout: withDefault(duration(1), 5_000),
    /** How long a request may wait for a free connection to its origin (all `connections` busy). */
    queueTimeout: withDefault(duration(1), 10_000),
    headersTimeout: withDefault(duration(1), 30_000),
    bodyTimeout: withDefault(duration(1), 30_000),
    keepAliveTimeout: withDefault(duration(1), 4_000),
    connections: withDefault(int(1, 10_000), 128),
    /** PEM file of CA certificates trusted for https origins, in addition to the system's. */
    caFile: optional(str()),
    /** Most peers (shields, origins) one request tries when connecting fails. */
    attempts: withDefault(int(1, 10), 3),
    health: obj({
      /**
       * Consecutive failures (connect errors, timeouts, a shield's own 5xx) that take a peer
       * out; with openFor, nginx's max_fails=1 fail_timeout=10s.
       */
      failures: withDefault(int(1, 1000), 1),
      /** How long a peer stays out before requests try it again (half-open). */
      openFor: withDefault(duration(100), 10_000),
      /** How often shields (and origins with sites[].originProbe) are probed; 0 turns probes off. */
      probeInterval: withDefault(duration(), 2_000),
      /** A probe not answered within this counts as failed. */
      probeTimeout: withDefault(duration(10), 1_000),
    }),
  }),
  proxy: obj({
    /** Keep incoming X-Forwarded-* / Forwarded values (only behind a trusted load balancer). */
    trustForwarded: withDefault(bool(), false),
    /**
     * Addresses (CIDR or single IPs) of the hops whose forwarding fields and X-Request-Id are
     * kept, such as the edges in front of a shield; trustForwarded trusts every address.
     */
    trustedProxies: withDefault(list(cidr), []),
  }),
  log: obj({
    level: withDefault(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'info'),
    access: withDefault(bool(), true),
  }),
  shutdown: obj({
    drainTimeout: withDefault(duration(), 10_000),
  }),
});

export type StrataConfig = Infer<typeof configSchema>;
export type SiteConfig = StrataConfig['sites'][number];
export type ShieldConfig = StrataConfig['shields'][number];

/** Cross-field rules. Runs on a partial config when other problems were found (see refine). */
const checkedConfig = refine(configSchema, (config, path, problems) => {
  checkHostsUnique(config.sites, join(path, 'sites'), problems);
  checkShieldsUnique(config.shields, join(path, 'shields'), problems);
  config.sites?.forEach((site, i) =>
    checkShieldsUnique(site?.shields, join(path, `sites[${i}].shields`), problems),
  );
  const mem = config.cache?.memory;
  if (mem?.maxObjectBytes !== undefined && mem.maxBytes !== undefined && mem.maxObjectBytes > mem.maxBytes)
    problems.push({
      path: join(path, 'cache.memory.maxObjectBytes'),
      message: `must not exceed cache.memory.maxBytes (${mem.maxObjectBytes} > ${mem.maxBytes})`,
    });
  const disk = config.cache?.disk;
  if (
    disk?.maxObjectBytes !== undefined &&
    disk.maxBytes !== undefined &&
    disk.maxObjectBytes > disk.maxBytes
  )
    problems.push({
      path: join(path, 'cache.disk.maxObjectBytes'),
      message: `must not exceed cache.disk.maxBytes (${disk.maxObjectBytes} > ${disk.maxBytes})`,
    });
  // A fill holds a whole object until it is stored: the budget must take the largest one.
  const fillBytes = config.cache?.maxFillBytes;
  const largest = Math.max(
    mem?.maxObjectBytes ?? 0,
    disk?.maxBytes === undefined ? 0 : (disk.maxObjectBytes ?? Math.min(64 * 1024 ** 2, disk.maxBytes)),
  );
  if (fillBytes !== undefined && fillBytes < largest)
    problems.push({
      path: join(path, 'cache.maxFillBytes'),
      message: `must be at least the largest storable object, ${largest} bytes (cache.memory.maxObjectBytes, cache.disk.maxObjectBytes)`,
    });
  if (disk?.chunkBytes !== undefined && disk.chunkBytes > 64 * 1024 ** 2)
    problems.push({ path: join(path, 'cache.disk.chunkBytes'), message: 'must not exceed 64MiB' });
  const server = config.server;
  if (server?.headersTimeout !== undefined && server.requestTimeout < server.headersTimeout)
    problems.push({
      path: join(path, 'server.headersTimeout'),
      message: `must not exceed server.requestTimeout (${server.headersTimeout}ms > ${server.requestTimeout}ms)`,
    });
  const { http, admin } = config.listen ?? {};
  if (http !== undefined && http === admin && !http.endsWith(':0'))
    problems.push({ path: join(path, 'listen.admin'), message: `must differ from listen.http (${http})` });
  return config;
});

/** A host (after lowercasing and dropping a trailing dot) may be served by one site only. */
function checkHostsUnique(sites: SiteConfig[] | undefined, path: string, problems: Problem[]): void {
  const seen = new Map<string, number>();
  sites?.forEach((s, i) => {
    s?.hosts?.forEach((host, j) => {
      if (typeof host !== 'string') return;
      const h = host.toLowerCase().replace(/\.$/, '');
      const before = seen.get(h);
      if (before !== undefined)
        problems.push({
          path: `${path}[${i}].hosts[${j}]`,
          message:
            before === i
              ? `host "${host}" is listed twice in this site`
              : `host "${host}" is already served by sites[${before}]`,
        });
      else seen.set(h, i);
    });
  });
}

/** One entry per shield URL: a second would only skew the rendezvous hash towards it. */
function checkShieldsUnique(shields: ShieldConfig[] | undefined, path: string, problems: Problem[]): void {
  const seen = new Set<string>();
  shields?.forEach((s, i) => {
    const url = typeof s?.url === 'string' ? s.url.replace(/\/$/, '').toLowerCase() : undefined;
    if (url === undefined) return;
    if (seen.has(url))
      problems.push({ path: `${path}[${i}].url`, message: `shield ${s.url} is listed twice` });
    seen.add(url);
  });
}

/** The JSON Schema of a config file (draft 2020-12), for editors: strata config schema. */
export function configJsonSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Strata node config',
    description:
      'The config of strata edge and strata shield; every key is documented in docs/configuration.md.',
    ...checkedConfig.json,
  };
}

/** Validates a parsed document; returns every problem rather than the first. */
export function validateConfig(input: unknown): { config?: StrataConfig; problems: Problem[] } {
  const problems: Problem[] = [];
  const config = checkedConfig.check(input, '', problems);
  return problems.length > 0 ? { problems } : { config: deepFreeze(config), problems };
}

/**
 * Parses YAML text; syntax errors are problems whose path is "(yaml line N)" and whose message
 * is one line (the YAML library's message without its code excerpt) ending in the column.
 */
export function parseConfigText(text: string): { config?: StrataConfig; problems: Problem[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: `(yaml line ${pos?.line ?? '?'})`,
          message: `${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}${pos ? ` (column ${pos.col})` : ''}`,
        };
      }),
    };
  }
  return validateConfig(doc.toJS());
}

/** Loads, validates and freezes a config file; throws CONFIG_INVALID listing every problem. */
export async function loadConfig(file: string): Promise<StrataConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw StrataError.because('CONFIG_INVALID', err, { file });
  }
  const { config, problems } = parseConfigText(text);
  if (!config) throw configError(file, problems);
  return config;
}

export function configError(file: string, problems: Problem[]): StrataError {
  const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
  return new StrataError('CONFIG_INVALID', `invalid configuration in ${file}:\n${lines}`, { file, problems });
}
