// Every sample of what the strata command prints, in the project's markdown, is produced again
// here by the built CLI and compared line for line: a transcript's commands are run in a temp dir
// holding the config files the same page shows, and their output must be what the page says.
// Samples are read from the markdown, never copied here; markers: test/helpers/doc-blocks.ts.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { request } from 'undici';
import { cliPath, runCli } from '../helpers/cli.js';
import { docBlocks, where, type DocBlock } from '../helpers/doc-blocks.js';
import { tempDir, tempFile } from '../helpers/temp.js';

/** How long one command may take to print what the page shows (and exit, unless it is stopped). */
const commandTimeoutMs = 20_000;

interface RunOptions {
  /** Port numbers in the block and the page's files that fresh free ports replace. */
  ports: string[];
  /** Of those, the ones another listener holds while the commands run. */
  taken: string[];
  /** Compare stderr only (the command also logs JSON lines on stdout). */
  stderrOnly: boolean;
  /** 127.0.0.1 ports (chosen with port 0) are compared by order of first appearance. */
  anyPorts: boolean;
  /** The command runs until stopped: SIGTERM once it has printed what the page shows. */
  stop: boolean;
  /** For a block that is output only: the command that prints it. */
  command: string | undefined;
}

function runOptions(marker: string): RunOptions {
  const m = /^run((?: [a-z-]+(?:=[\d,]+)?)*)(?:: (.+))?$/.exec(marker);
  assert.ok(m, `unreadable run marker "${marker}"`);
  const opts = m[1].trim().split(' ').filter(Boolean);
  const list = (name: string) =>
    opts
      .find((w) => w.startsWith(`${name}=`))
      ?.slice(name.length + 1)
      .split(',') ?? [];
  for (const w of opts)
    assert.match(w, /^(ports=[\d,]+|taken=[\d,]+|stderr|any-ports|stop)$/, `unknown run option "${w}"`);
  return {
    ports: list('ports'),
    taken: list('taken'),
    stderrOnly: opts.includes('stderr'),
    anyPorts: opts.includes('any-ports'),
    stop: opts.includes('stop'),
    command: m[2],
  };
}

interface Step {
  command: string;
  /** The lines the page shows after the command; a last line "..." means only the first ones. */
  expected: string[];
}

/** The commands of a transcript ("$ " lines) with the output shown after each. */
function steps(block: DocBlock, options: RunOptions): Step[] {
  const lines = block.text.replace(/\n$/, '').split('\n');
  if (options.command) return [{ command: options.command, expected: lines }];
  const out: Step[] = [];
  for (const line of lines) {
    if (line.startsWith('$ ')) out.push({ command: line.slice(2), expected: [] });
    else {
      assert.ok(out.length > 0, `${where(block)}: output before the first "$ " command`);
      out[out.length - 1].expected.push(line);
    }
  }
  return out;
}

/** Shell words, without quotes and without a trailing " # comment". */
function words(command: string): string[] {
  const bare = command.replace(/\s+#\s.*$/, '');
  return [...bare.matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) => m[0].replace(/^(['"])(.*)\1$/, '$2'));
}

/** The CLI's arguments for `strata ...` or `node dist/shared/cli/strata.js ...`. */
function cliArgs(command: string): string[] {
  const w = words(command);
  if (w[0] === 'strata') return w.slice(1);
  if (w[0] === 'node' && w[1] === 'dist/shared/cli/strata.js') return w.slice(2);
  assert.fail(`not a strata command: ${command}`);
}

/** Times, process ids and (with anyPorts) loopback ports, which differ on every run, as placeholders. */
function normalize(text: string, anyPorts: boolean): string {
  let out = text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>')
    .replace(/"pid":\d+/g, '"pid":<pid>');
  if (anyPorts) {
    const order: string[] = [];
    out = out.replace(/127\.0\.0\.1:(\d+)/g, (_, port: string) => {
      if (!order.includes(port)) order.push(port);
      return `127.0.0.1:<port ${order.indexOf(port) + 1}>`;
    });
  }
  return out;
}

/** What the page shows against what the command printed so far: whether the page's lines are all there. */
function shown(
  expected: string[],
  printed: string,
  anyPorts: boolean,
): { done: boolean; want: string; got: string } {
  const head = expected[expected.length - 1] === '...';
  const lines = head ? expected.slice(0, -1) : expected;
  const want = normalize(lines.map((l) => `${l}\n`).join(''), anyPorts);
  // A leading blank line (the demo's banner starts with one, to stand apart in a terminal) is not shown.
  const printedLines = printed.replace(/^\n+/, '').split('\n');
  const got = normalize(
    head ? printedLines.slice(0, lines.length).join('\n') + '\n' : printedLines.join('\n'),
    anyPorts,
  );
  return { done: head ? printedLines.length > lines.length && got === want : got === want, want, got };
}

/** A free loopback port; held (as a listener that never answers) when `hold`. */
async function freePort(t: TestContext, hold: boolean): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = String((server.address() as AddressInfo).port);
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  if (hold) t.after(close);
  else await close();
  return port;
}

/**
 * Runs one command in `dir` until it exits, or (options.stop) until it has printed what the page
 * shows; resolves with its exit code (undefined when stopped) and what it printed.
 */
async function runCommand(
  t: TestContext,
  dir: string,
  args: string[],
  expected: string[],
  options: RunOptions,
): Promise<{ code: number | undefined; printed: string }> {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  const printed = () => (options.stderrOnly ? stderr : stdout + stderr);
  return new Promise((resolve) => {
    let stoppedWith: string | undefined;
    const timer = setTimeout(() => {
      stoppedWith = printed();
      child.kill('SIGKILL');
    }, commandTimeoutMs);
    const check = () => {
      if (!options.stop || stoppedWith !== undefined || !shown(expected, printed(), options.anyPorts).done)
        return;
      stoppedWith = printed();
      child.kill('SIGTERM');
    };
    child.stdout.setEncoding('utf8').on('data', (s: string) => ((stdout += s), check()));
    child.stderr.setEncoding('utf8').on('data', (s: string) => ((stderr += s), check()));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: stoppedWith === undefined ? (code ?? undefined) : undefined,
        printed: stoppedWith ?? printed(),
      });
    });
  });
}

/** The page's `file NAME` blocks, written into `dir` with the doc ports replaced. */
async function writeFiles(dir: string, blocks: DocBlock[], page: string, replace: (s: string) => string) {
  for (const b of blocks.filter((b) => b.file === page)) {
    const name = /^file (\S+)/.exec(b.marker ?? '')?.[1];
    if (name) await writeFile(join(dir, name), replace(b.text));
  }
}

async function runSample(t: TestContext, block: DocBlock, all: DocBlock[]): Promise<void> {
  const options = runOptions(block.marker!);
  const replacements = new Map<string, string>();
  for (const port of options.ports) replacements.set(port, await freePort(t, options.taken.includes(port)));
  const replace = (s: string) =>
    [...replacements].reduce((text, [doc, real]) => text.replace(new RegExp(`\\b${doc}\\b`, 'g'), real), s);
  const dir = await tempDir(t, 'strata-doc-sample');
  await writeFiles(dir, all, block.file, replace);
  let lastCode: number | undefined;
  for (const step of steps(block, options)) {
    const expected = step.expected.map(replace);
    if (step.command === 'echo $?') {
      assert.deepEqual([String(lastCode)], expected, `${where(block)}: exit code of the command before`);
      continue;
    }
    const { code, printed } = await runCommand(t, dir, cliArgs(replace(step.command)), expected, options);
    lastCode = code;
    const { want, got } = shown(expected, printed, options.anyPorts);
    assert.equal(got, want, `${where(block)}: what "${step.command}" prints`);
    if (!options.stop) assert.notEqual(code, undefined, `${step.command} exited`);
  }
}

/** Does a block show what the strata command prints (and so needs a run or not-run marker)? */
function showsCliOutput(block: DocBlock): boolean {
  const lines = block.text.split('\n');
  const printedLine = /^(strata( [a-z-]+)?: |Strata demo|Usage: strata|\{"level":)/;
  const command = /^\$ (strata |node dist\/shared\/cli\/strata\.js|npm start)/;
  return lines.some(
    (l, i) =>
      printedLine.test(l) || (command.test(l) && lines[i + 1] !== undefined && /^[^$]/.test(lines[i + 1])),
  );
}

test('every sample of what strata prints is marked to be run, or says why it cannot be', async () => {
  const unmarked = (await docBlocks())
    .filter((b) => showsCliOutput(b) && !/^(run\b|not run: .{10,})/.test(b.marker ?? ''))
    .map(where);
  assert.deepEqual(unmarked, [], 'add <!-- doc-test: run ... --> (or "not run: WHY") before these blocks');
});

test('the samples in the docs are what the built CLI prints', async (t) => {
  const blocks = await docBlocks();
  const samples = blocks.filter((b) => b.marker?.startsWith('run'));
  // The pages with samples: a lost marker must not pass by running nothing.
  for (const page of ['docs/cli.md', 'docs/configuration.md'])
    assert.ok(
      samples.some((b) => b.file === page),
      `no sample marked in ${page}`,
    );
  await Promise.all(samples.map((block) => t.test(where(block), (t) => runSample(t, block, blocks))));
});

test("the README's own-config recipe: the demo origin and an edge on my-edge.yaml serve a miss, then a hit", async (t) => {
  const readme = (await docBlocks()).filter((b) => b.file === 'README.md');
  const config = readme.find((b) => b.marker === 'file my-edge.yaml');
  assert.ok(config, 'README.md shows my-edge.yaml');
  const recipe = readme.find((b) => b.lang === 'sh' && b.text.includes('edge --config my-edge.yaml'));
  assert.ok(recipe, 'README.md runs an edge on my-edge.yaml');
  assert.match(recipe.text, /strata\.js demo-origin/, 'next to the demo origin it points at');
  // The recipe's origin and listeners, on free ports (tests never take fixed ones).
  const origin = runCli(t, ['demo-origin', '--listen', '127.0.0.1:0']);
  const originUrl = await new Promise<string>((resolve) =>
    origin.child.stderr!.on('data', () => {
      const url = /listening on (http:\/\/\S+)/.exec(origin.stderr())?.[1];
      if (url) resolve(url);
    }),
  );
  const doc = parse(config.text.replaceAll('http://127.0.0.1:3000', originUrl)) as Record<string, unknown>;
  const listen = { http: '127.0.0.1:0', admin: '127.0.0.1:0' };
  const file = await tempFile(t, 'strata-readme', 'my-edge.yaml', stringify({ ...doc, listen }));
  const edge = runCli(t, ['edge', '--config', file]);
  const started = await edge.logLine('edge started');
  const statuses: string[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await request(`http://${String(started.http)}/cacheable`);
    assert.equal(res.statusCode, 200);
    await res.body.text();
    statuses.push(String(res.headers['cache-status']));
  }
  assert.match(statuses[0], /; fwd=uri-miss; fwd-status=200; stored$/);
  assert.match(statuses[1], /; hit; ttl=\d+$/);
});
