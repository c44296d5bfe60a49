// Runs a built loadtest script (npm run bench and friends) to its end, as the smoke tests do.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Runs dist/loadtest/`script`; fails the test with its output unless it exits `expected` (default 0). */
export async function runLoadtestScript(
  t: TestContext,
  script: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; expected?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const path = fileURLToPath(new URL(`../../loadtest/${script}`, import.meta.url));
  const child = spawn(process.execPath, [path, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env,
  });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, options.expected ?? 0, `${script} exited ${code}:\n${stderr}\n${stdout}`);
  return { stdout, stderr };
}
