// What the bench asks of a load generator, and the two it can drive: wrk (C, the default for
// measurements: one thread costs little CPU) and autocannon (Node.js, a devDependency that
// npm ci brings, so a smoke run needs nothing installed). Each runs as a process of its own,
// pinned to the generator CPU, and prints one BENCH_RESULT JSON line (see generator-process.ts).

import { Autocannon } from './autocannon.js';
import { Wrk } from './wrk.js';

export const generatorNames = ['wrk', 'autocannon'] as const;
export type GeneratorName = (typeof generatorNames)[number];

/** One bounded load run, as the load generator measured it. */
export interface LoadResult {
  requests: number;
  durationSec: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors, timeouts and responses that were not 2xx/3xx. */
  errors: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationSec: number;
  cpu: number | undefined;
  /** When set, every request goes to a path of its own that starts with this prefix. */
  uniquePrefix?: string;
  /** Extra request fields ("Name: value"), sent with every request. */
  headers?: readonly string[];
}

export interface LoadGenerator {
  readonly name: GeneratorName;
  /** How it runs, for the report: e.g. "wrk 4.1.0, one thread". */
  readonly label: string;
  run(options: LoadOptions): Promise<LoadResult>;
}

/** Reads a --generator value; throws naming the option when it is neither. */
export function parseGeneratorName(value: string): GeneratorName {
  if (!(generatorNames as readonly string[]).includes(value))
    throw new Error(`--generator: expected ${generatorNames.join(' or ')}, got ${value}`);
  return value as GeneratorName;
}

/** The generator `name`; throws one line saying what to do when it is not installed. */
export function openLoadGenerator(name: GeneratorName, dir: string): LoadGenerator {
  return name === 'wrk' ? Wrk.open(dir) : new Autocannon();
}

/** What a desktop browser sends on a navigation, besides Host (--request-headers browser). */
export const browserHeaders: readonly string[] = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Accept-Language: en-US,en;q=0.9',
  'Accept-Encoding: gzip, deflate, br',
  'Connection: keep-alive',
  'Upgrade-Insecure-Requests: 1',
  'Sec-Fetch-Dest: document',
  'Sec-Fetch-Mode: navigate',
  'Sec-Fetch-Site: none',
  'Sec-Fetch-User: ?1',
  'Cookie: session=abc123; theme=dark; _ga=GA1.2.1234567890.1700000000',
  'Referer: https://www.example.test/',
];
