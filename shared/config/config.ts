// The Strata config: one schema per section (sections/), validated strictly at load, defaulted,
// frozen. The shape is a public contract (docs/configuration.md): later features add keys,
// never rename.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { StrataError } from '../errors.js';
import {
  deepFreeze,
  intOrAuto,
  obj,
  optional,
  refine,
  withDefault,
  type Infer,
  type JsonSchema,
  type Problem,
} from './schema.js';
import { cacheSection } from './sections/cache.js';
import { listenSection, logSection, nodeSection, shutdownSection } from './sections/node.js';
import { proxySection } from './sections/proxy.js';
import { relaysSection } from './sections/relays.js';
import { purgeSection } from './sections/purge.js';
import { serverSection } from './sections/server.js';
import { shieldFallback, shieldList } from './sections/shields.js';
import { sitesSection } from './sections/sites.js';
import { upstreamSection } from './sections/upstream.js';
import { websocketSection } from './sections/websocket.js';
import { dnsSection, geoSection } from './sections/geo.js';

export type { ShieldConfig } from './sections/shields.js';
export type { PurgeConfig } from './sections/purge.js';
export type { SiteConfig } from './sections/sites.js';
export type { OriginEntry } from './fields.js';
export type { RelaysConfig, TcpRelayConfig, UdpRelayConfig } from './sections/relays.js';
export type { DnsConfig, GeoConfig, RegionConfig } from './sections/geo.js';

/** The whole config's sections. Each checks its own cross-field rules (they run on partial values). */
const sections = {
  node: nodeSection,
  listen: listenSection,
  /**
   * Worker processes serving listen.http (auto: one per core). 1 runs the node in one process;
   * with more, a primary process supervises them and serves the admin listener.
   */
  workers: withDefault(intOrAuto(1, 256), 'auto'),
  sites: sitesSection,
  /** Origin shields edges fetch misses from, chosen per cache key by rendezvous hashing. */
  shields: withDefault(shieldList, []),
  shieldFallback,
  cache: cacheSection,
  server: serverSection,
  upstream: upstreamSection,
  proxy: proxySection,
  websocket: websocketSection,
  /** TCP and UDP relays (edge only): non-HTTP traffic passed to backends. */
  relays: relaysSection,
  /** Fleet-wide purges: the bus (Redis), the API's token and limits (docs/configuration.md). */
  purge: purgeSection,
  log: logSection,
  shutdown: shutdownSection,
  /** GeoIP and the regions clients are steered to; absent: no geo fields, rules or GeoDNS. */
  geo: optional(geoSection),
  /** The GeoDNS server this node runs besides its listeners (strata dns runs it alone). */
  dns: optional(dnsSection),
};

/** Rules between sections: what geo-dependent keys need from the geo section. */
function geoRules<T extends { geo?: unknown; dns?: unknown; sites?: unknown }>(
  config: T,
  _path: string,
  problems: Problem[],
): T {
  const { geo, dns, sites } = config as Partial<StrataConfig>;
  const regions = geo?.regions ?? {};
  if (dns && Object.keys(regions).length === 0)
    problems.push({
      path: 'geo.regions',
      message: 'the dns section needs regions with edges to answer with',
    });
  sites?.forEach((site, i) => {
    if (!site?.geo) return;
    if (!geo) problems.push({ path: `sites[${i}].geo`, message: 'needs the top-level geo section' });
    for (const r of Object.keys(site.geo.steer ?? {}))
      if (!Object.hasOwn(regions, r))
        problems.push({ path: `sites[${i}].geo.steer.${r}`, message: `no region "${r}" in geo.regions` });
  });
  return config;
}

const configSchema = refine(obj(sections), geoRules);

/**
 * What strata dns reads: the same file as a node's (so an edge's config serves), where only
 * dns is required: sites may be absent.
 */
const dnsServerSchema = refine(
  obj({ ...sections, sites: optional(sitesSection) }),
  (config, path, problems) => {
    if (!config.dns) problems.push({ path: 'dns', message: 'is required (strata dns serves it)' });
    return geoRules(config, path, problems);
  },
);

export type StrataConfig = Infer<typeof configSchema>;
/** A config as strata dns reads it: sites optional. */
export type DnsServerConfig = Infer<typeof dnsServerSchema>;

/** The JSON Schema of a config file (draft 2020-12), for editors: strata config schema. */
export function configJsonSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Strata node config',
    description:
      'The config of strata edge and strata shield; every key is documented in docs/configuration.md.',
    ...configSchema.json,
  };
}

/** Validates a parsed document; returns every problem rather than the first. */
export function validateConfig(input: unknown): { config?: StrataConfig; problems: Problem[] } {
  const problems: Problem[] = [];
  const config = configSchema.check(input, '', problems);
  return problems.length > 0 ? { problems } : { config: deepFreeze(config), problems };
}

/** Validates a parsed document as strata dns reads it (dns required, sites optional). */
export function validateDnsConfig(input: unknown): { config?: DnsServerConfig; problems: Problem[] } {
  const problems: Problem[] = [];
  const config = dnsServerSchema.check(input, '', problems);
  return problems.length > 0 ? { problems } : { config: deepFreeze(config), problems };
}

/**
 * What strata config check applies: a file with a dns section and no sites is one for
 * strata dns (validateDnsConfig); any other is a node's (validateConfig).
 */
export function validateAnyConfig(input: unknown): { config?: DnsServerConfig; problems: Problem[] } {
  const doc = input as Record<string, unknown> | null;
  const dnsOnly = typeof doc === 'object' && doc !== null && doc.dns != null && doc.sites == null;
  return dnsOnly ? validateDnsConfig(input) : validateConfig(input);
}

/**
 * Parses YAML text; syntax errors are problems whose path is "(yaml line N)" and whose message
 * is one line (the YAML library's message without its code excerpt) ending in the column.
 */
export function parseConfigText(text: string): { config?: StrataConfig; problems: Problem[] };
export function parseConfigText(
  text: string,
  validate: (input: unknown) => { config?: DnsServerConfig; problems: Problem[] },
): { config?: DnsServerConfig; problems: Problem[] };
export function parseConfigText(
  text: string,
  validate: (input: unknown) => { config?: unknown; problems: Problem[] } = validateConfig,
): { config?: unknown; problems: Problem[] } {
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
  return validate(doc.toJS());
}

/** Loads, validates and freezes a config file; throws CONFIG_INVALID listing every problem. */
export async function loadConfig(file: string): Promise<StrataConfig>;
export async function loadConfig(file: string, forDns: 'dns'): Promise<DnsServerConfig>;
export async function loadConfig(file: string, forDns?: 'dns'): Promise<StrataConfig | DnsServerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw StrataError.because('CONFIG_INVALID', err, { file });
  }
  const { config, problems } = forDns ? parseConfigText(text, validateDnsConfig) : parseConfigText(text);
  if (!config) throw configError(file, problems);
  return config;
}

export function configError(file: string, problems: Problem[]): StrataError {
  const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
  return new StrataError('CONFIG_INVALID', `invalid configuration in ${file}:\n${lines}`, { file, problems });
}
