// The bench's command line: defaults for a measurement, --quick for a smoke run, every run bounded.

import { parseArgs } from 'node:util';
import { parseGeneratorName, type GeneratorName } from './load.js';

export const scenarioNames = ['hit-1k', 'hit-100k', 'miss', 'miss-c8', 'miss-proxy'] as const;
/** What runs without --scenarios (miss-proxy is asked for by name: it is a diagnosis, not a goal). */
const defaultScenarios: readonly ScenarioName[] = ['hit-1k', 'hit-100k', 'miss', 'miss-c8'];
export type ScenarioName = (typeof scenarioNames)[number];

export const usage = `Usage: npm run bench -- [options]

Options:
  --quick              smoke run: 1 round of 2 s, no warm-up load, autocannon (numbers are not for comparison)
  --generator wrk|autocannon
                       the load generator: wrk (default; apt-get install -y wrk) or autocannon
                       (installed by npm ci; default with --quick; it needs more CPU per request)
  --duration SEC       seconds per measured run (default 5)
  --rounds N           interleaved edge/reference rounds per scenario; the median is reported (default 3)
  --warmup SEC         unmeasured load on each target before its rounds (default 2)
  --connections N      concurrent connections (default 64)
  --scenarios LIST     comma-separated from ${scenarioNames.join(', ')} 
                       (default: ${defaultScenarios.join(',')}; hit-1k with --profile)
  --origin-delay MS    origin delay for the miss path (default 5)
  --access-log on|off  the edge's access log (default on, as deployed; off shows what logging costs)
  --request-headers minimal|browser
                       what each request carries: Host only (default), or twelve
                       fields as a browser sends them (User-Agent, Accept*, Cookie, Sec-Fetch-*)
  --wait-quiet SEC     first wait up to SEC for other processes to use under 5% of all CPU (default 0)
  --retry-noisy N      run a measured run again (at most N times) when other processes used over 5%
                       of all CPU during it (default 0: runs stay bounded; for a shared machine)
  --profile            run the edge under --cpu-prof and print its hottest functions
  --keep               keep the temp dir (configs, logs, profile)
  -h, --help           show this help`;

export interface BenchOptions {
  durationSec: number;
  rounds: number;
  warmupSec: number;
  connections: number;
  scenarios: ReadonlySet<ScenarioName>;
  originDelayMs: number;
  accessLog: boolean;
  requestHeaders: 'minimal' | 'browser';
  waitQuietSec: number;
  retryNoisy: number;
  profile: boolean;
  keep: boolean;
  quick: boolean;
  generator: GeneratorName;
}

/** Parses argv; undefined means --help. Throws with the option's name on a bad value. */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      generator: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      scenarios: { type: 'string' },
      'origin-delay': { type: 'string' },
      'access-log': { type: 'string', default: 'on' },
      'request-headers': { type: 'string', default: 'minimal' },
      'wait-quiet': { type: 'string' },
      'retry-noisy': { type: 'string' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const int = (name: string, v: string | undefined, fallback: number, min: number, max: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name}: expected an integer from ${min} to ${max}, got ${v}`);
    return n;
  };
  const list = (values.scenarios ?? (values.profile ? 'hit-1k' : defaultScenarios.join(','))).split(',');
  for (const s of list)
    if (!(scenarioNames as readonly string[]).includes(s))
      throw new Error(`--scenarios: unknown scenario "${s}" (known: ${scenarioNames.join(', ')})`);
  const accessLog = values['access-log'];
  if (accessLog !== 'on' && accessLog !== 'off')
    throw new Error(`--access-log: expected on or off, got ${accessLog}`);
  const requestHeaders = values['request-headers'];
  if (requestHeaders !== 'minimal' && requestHeaders !== 'browser')
    throw new Error(`--request-headers: expected minimal or browser, got ${requestHeaders}`);
  const quick = values.quick;
  return {
    quick,
    generator: parseGeneratorName(values.generator ?? (quick ? 'autocannon' : 'wrk')),
    // Bounded: no run is longer than a minute and no scenario has more than 9 rounds.
    durationSec: int('duration', values.duration, quick ? 2 : 5, 1, 60),
    rounds: int('rounds', values.rounds, quick ? 1 : 3, 1, 9),
    warmupSec: int('warmup', values.warmup, quick ? 0 : 2, 0, 30),
    connections: int('connections', values.connections, 64, 1, 1024),
    scenarios: new Set(list as ScenarioName[]),
    originDelayMs: int('origin-delay', values['origin-delay'], 5, 0, 1000),
    accessLog: accessLog === 'on',
    requestHeaders,
    waitQuietSec: int('wait-quiet', values['wait-quiet'], 0, 0, 3600),
    retryNoisy: int('retry-noisy', values['retry-noisy'], 0, 0, 5),
    profile: values.profile,
    keep: values.keep || values.profile,
  };
}
