// Every config example of the project's markdown (README.md, docs/, deploy/) and every config
// file in deploy/config/ goes through strata config check, the built CLI as operators run it, so
// that no example drifts from the schema. Examples are read where they are written, never copied
// here; the markers that say what a YAML block is are described in test/helpers/doc-blocks.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { validateConfig } from '../../shared/config/config.js';
import { runCli } from '../helpers/cli.js';
import { tempFile } from '../helpers/temp.js';
import { docBlocks, repoRoot, where, type DocBlock } from '../helpers/doc-blocks.js';

interface ConfigExample {
  /** docs/configuration.md:32, or deploy/config/edge-local.yaml */
  where: string;
  text: string;
  /** Shown as invalid, with its errors: config check must refuse it. */
  invalid: boolean;
}

/** The smallest config a partial example is checked inside (sites is the one required key). */
const smallestSites = [{ hosts: ['*'], origins: ['http://127.0.0.1:3000'] }];

/** A partial example (e.g. a cache section alone) inside the smallest config. */
function completed(block: DocBlock): string {
  const doc = parse(block.text) as Record<string, unknown>;
  return stringify({ sites: smallestSites, ...doc });
}

/** Heredocs that write a YAML file in shell and console blocks: cat > FILE.yaml <<'EOF' ... EOF */
function heredocConfigs(block: DocBlock): ConfigExample[] {
  const found = block.text.matchAll(/cat > \S+\.ya?ml <<'?(\w+)'?\n([\s\S]*?)\n\1\n/g);
  return [...found].map((m) => ({ where: where(block), text: `${m[2]}\n`, invalid: false }));
}

interface Found {
  examples: ConfigExample[];
  /** YAML blocks marked as not a config, with the reason given. */
  notConfigs: { block: DocBlock; why: string }[];
}

async function configExamples(): Promise<Found> {
  const found: Found = { examples: [], notConfigs: [] };
  for (const block of await docBlocks()) {
    if (block.lang === 'sh' || block.lang === 'console') found.examples.push(...heredocConfigs(block));
    if (block.lang !== 'yaml' && block.lang !== 'yml') continue;
    const marker = block.marker ?? '';
    const notConfig = /^not a config: (.+)$/.exec(marker);
    if (notConfig) found.notConfigs.push({ block, why: notConfig[1] });
    else if (marker === 'partial')
      found.examples.push({ where: where(block), text: completed(block), invalid: false });
    else if (marker === '' || /^file \S+( invalid)?$/.test(marker))
      found.examples.push({ where: where(block), text: block.text, invalid: marker.endsWith(' invalid') });
    else assert.fail(`${where(block)}: unknown doc-test marker "${marker}" on a YAML block`);
  }
  const configDir = join(repoRoot, 'deploy', 'config');
  for (const name of (await readdir(configDir)).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const text = await readFile(join(configDir, name), 'utf8');
    found.examples.push({ where: `deploy/config/${name}`, text, invalid: false });
  }
  return found;
}

test('every config example in the markdown and deploy/config passes strata config check', async (t) => {
  const { examples } = await configExamples();
  // The pages that have always shown configs: a lost marker or fence must not pass by checking nothing.
  for (const page of [
    'README.md',
    'docs/configuration.md',
    'docs/cli.md',
    'docs/disk-tier.md',
    'deploy/config/',
  ])
    assert.ok(
      examples.some((e) => e.where.startsWith(page)),
      `no config example found in ${page}`,
    );
  await Promise.all(
    examples.map((example) =>
      t.test(`${example.where}${example.invalid ? ' (shown as invalid)' : ''}`, async (t) => {
        const file = await tempFile(t, 'strata-doc-config', 'example.yaml', example.text);
        const run = runCli(t, ['config', 'check', file]);
        const code = await run.exited;
        if (example.invalid) {
          assert.equal(code, 1, run.stdout());
          assert.ok(run.stderr().startsWith(`${file}: `), run.stderr());
        } else {
          assert.equal(run.stderr(), '', `${example.where} is shown as a working config`);
          assert.equal(code, 0);
          assert.equal(run.stdout(), `${file}: ok\n`);
        }
      }),
    ),
  );
});

test('YAML blocks marked as not a config say what they are, and none of their keys is a Strata key', async () => {
  const { notConfigs } = await configExamples();
  // Today: the Prometheus scrape config and alert rules, and a compose snippet. Keep it short.
  assert.ok(
    notConfigs.length <= 4,
    `${notConfigs.length} YAML blocks left out: ${notConfigs.map((n) => where(n.block))}`,
  );
  for (const { block, why } of notConfigs) {
    assert.ok(why.trim().length >= 10, `${where(block)}: say what the block is`);
    // Leniently: a block may show two snippets of one file (a key under a service, then at the top).
    const doc = parse(block.text, { uniqueKeys: false }) as Record<string, unknown>;
    const unknown = validateConfig(doc)
      .problems.filter((p) => p.message.startsWith('unknown key'))
      .map((p) => p.path);
    const keys = Object.keys(doc);
    assert.deepEqual(unknown, keys, `${where(block)} has keys of a Strata config: check it instead`);
  }
});
