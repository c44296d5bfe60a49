// Runs the built strata command as a child process and reads its JSON log lines as they come.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** dist/shared/cli/strata.js, next to this compiled helper's dist/test/helpers/. */
export const cliPath = fileURLToPath(new URL('../../shared/cli/strata.js', import.meta.url));

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | NodeJS.Signals>;
  /** Resolves with the first JSON line on stdout whose msg is `msg` (rejects if the process exits first). */
  logLine(msg: string): Promise<Record<string, unknown>>;
}

/** Spawns `node dist/shared/cli/strata.js ...args`; the process is killed after the test if still running. */
export function runCli(t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  const seen: Record<string, unknown>[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // not a log line (e.g. plain output); stdout() still has it
      }
      seen.push(parsed);
      for (const w of waiters.filter((w) => w.msg === parsed.msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('close', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    logLine(msg) {
      const already = seen.find((l) => l.msg === msg);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        waiters.push({ msg, resolve });
        void exited.then((code) =>
          reject(new Error(`exited (${code}) before logging "${msg}"\nstdout: ${out}\nstderr: ${err}`)),
        );
      });
    },
  };
}
