// Temp dirs and files that live as long as the test that made them.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A new dir under the system's temp dir, removed after the test. */
export async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `text` written as `name` in a new temp dir; returns its path. */
export async function tempFile(t: TestContext, prefix: string, name: string, text: string): Promise<string> {
  const file = join(await tempDir(t, prefix), name);
  await writeFile(file, text);
  return file;
}
