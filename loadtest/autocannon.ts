// autocannon as the bench's load generator: a Node.js process of its own (autocannon-child.ts),
// pinned like wrk. It needs nothing but npm ci, which is why smoke runs use it; it spends more
// CPU per request than wrk, and its latencies have a resolution of 1 ms.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { LoadGenerator, LoadOptions, LoadResult } from './load.js';
import { readBenchResult, runGeneratorProcess } from './generator-process.js';

/** The child's arguments: LoadOptions as JSON, without the CPU (the child is already pinned). */
export type AutocannonRun = Omit<LoadOptions, 'cpu'>;

const childPath = fileURLToPath(new URL('./autocannon-child.js', import.meta.url));

export class Autocannon implements LoadGenerator {
  readonly name = 'autocannon';
  readonly label: string;

  constructor() {
    const { version } = createRequire(import.meta.url)('autocannon/package.json') as { version: string };
    this.label = `autocannon ${version}, one process`;
  }

  async run(options: LoadOptions): Promise<LoadResult> {
    const { cpu, ...run } = options;
    const { out, code } = await runGeneratorProcess(
      process.execPath,
      [childPath, JSON.stringify(run satisfies AutocannonRun)],
      cpu,
    );
    return readBenchResult('autocannon', out, code, options.url);
  }
}
