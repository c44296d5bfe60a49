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

export type { ShieldConfig } from './sections/shields.js';
export type { PurgeConfig } from './sections/purge.js';
export type { SiteConfig } from './sections/sites.js';
export type { OriginEntry } from './fields.js';
export type { RelaysConfig, TcpRelayConfig, UdpRelayConfig } from './sections/relays.js';

/** The whole config. Each section checks its own cross-field rules (they run on partial values). */
const configSchema = obj({
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
});

export type StrataConfig = Infer<typeof configSchema>;

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
