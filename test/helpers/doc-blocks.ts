// The fenced blocks of the project's markdown, each with the doc-test marker written before it:
// what the docs tests extract and check, so that no example is copied into a test.
//
// A marker is an HTML comment on the line before a fence (blank lines between are allowed):
//   <!-- doc-test: file NAME -->           a config example saved as NAME for this page's samples
//   <!-- doc-test: file NAME invalid -->   the same, for a config that must be refused
//   <!-- doc-test: partial -->             part of a config: checked inside the smallest config
//   <!-- doc-test: not a config: WHY -->   YAML that is not a Strata config (Prometheus, compose)
//   <!-- doc-test: run [OPTIONS] -->       a console transcript: its commands are run, their
//                                          output compared with the lines after each "$ "
//   <!-- doc-test: run [OPTIONS]: CMD -->  the block is what CMD prints
//   <!-- doc-test: not run: WHY -->        output the tests cannot reproduce, and why
// Run options (see docs-cli-samples.test.ts): ports=P,Q (fresh ports replace P and Q in the
// block and this page's files), taken=P (P is held by another listener), stderr (compare only
// stderr), any-ports (127.0.0.1 ports are compared by order of appearance), stop (the command
// runs until stopped: it is stopped once its output has been shown).

import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The repository, from this compiled helper's place in dist/test/helpers/. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface DocBlock {
  /** Repository path of the markdown file, e.g. docs/cli.md. */
  file: string;
  /** Line of the opening fence, counted from 1. */
  line: number;
  /** The fence's info string: yaml, console, sh, or '' for a plain block. */
  lang: string;
  /** The content without the fence's indentation, each line ending with a newline. */
  text: string;
  /** What follows "doc-test:" in the marker before the fence; undefined without one. */
  marker: string | undefined;
}

/** Folders that hold no documentation of the project's own. */
const notDocs = new Set(['node_modules', 'dist', '.ab', '.git']);

/** Repository paths of every markdown file (README.md, docs/, deploy/, ...), sorted. */
export async function markdownFiles(): Promise<string[]> {
  const all = await readdir(repoRoot, { recursive: true });
  return all.filter((p) => p.endsWith('.md') && !p.split('/').some((part) => notDocs.has(part))).sort();
}

/** The fenced blocks of every markdown file of the repository. */
export async function docBlocks(): Promise<DocBlock[]> {
  const blocks: DocBlock[] = [];
  for (const file of await markdownFiles())
    blocks.push(...fencedBlocks(file, await readFile(repoRoot + file, 'utf8')));
  return blocks;
}

/** The fenced blocks of one markdown text. */
export function fencedBlocks(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const start = i;
    let text = '';
    for (i++; i < lines.length && !/^ *```\s*$/.test(lines[i]); i++) text += `${lines[i].slice(indent)}\n`;
    let before = start - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = /^\s*<!-- doc-test: (.*) -->\s*$/.exec(lines[before] ?? '')?.[1];
    blocks.push({ file, line: start + 1, lang: open[2], text, marker });
  }
  return blocks;
}

/** Where a block is, for test names and messages: docs/cli.md:126. */
export const where = (b: DocBlock): string => `${b.file}:${b.line}`;
