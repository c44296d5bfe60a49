// Runs one of the disk test scripts (test/helpers/disk-*-child.ts, compiled) in a child
// process: its stdout is JSON lines the test waits for; it is killed after the test.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export interface ChildRun {
  child: ChildProcess;
  /** Resolves with the first JSON line (already seen or to come) that `match` accepts. */
  line(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | NodeJS.Signals>;
  stderr(): string;
}

/** The compiled path of a helper script next to this one. */
export function helperScript(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

/** Spawns `command args` (node by default); stdin stays open for the test to write to. */
export function runChild(
  t: TestContext,
  args: string[],
  options: { command?: string; spawn?: SpawnOptions } = {},
): ChildRun {
  const child = spawn(options.command ?? process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...options.spawn,
  });
  const seen: Record<string, unknown>[] = [];
  const waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let pending = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue; // not one of the script's lines
      }
      seen.push(line);
      for (const w of waiters.filter((w) => w.match(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 0)),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited.then(() => undefined);
  });
  return {
    child,
    exited,
    stderr: () => err,
    line(match) {
      const found = seen.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then((code) =>
          reject(new Error(`child exited (${String(code)}) before the expected line; stderr:\n${err}`)),
        );
      });
    },
  };
}
