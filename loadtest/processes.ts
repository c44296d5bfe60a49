// The bench's child processes: spawned pinned to a CPU (taskset) when the machine allows it, their
// stdout written to a file (never a pipe a busy child could block on), ready when a JSON line
// they print matches, and always stopped: on success, on error, and on SIGINT/SIGTERM.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Which CPUs the servers and the load generator run on; undefined when they are not pinned. */
export interface Pinning {
  serverCpu: number | undefined;
  generatorCpu: number | undefined;
  /** One line for the report: how the run was pinned, or why it was not. */
  note: string;
}

/** CPUs this process may run on, from /proc/self/status (e.g. "0-1" or "0,2-3"). */
function allowedCpus(): number[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return []; // not Linux: no affinity information, so no pinning.
  }
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(text)?.[1] ?? '';
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (Number.isInteger(a)) for (let c = a; c <= (Number.isInteger(b) ? b : a); c++) cpus.push(c);
  }
  return cpus;
}

/** Pins the server under test to the first allowed CPU and the load generator to the second. */
export function detectPinning(): Pinning {
  const cpus = allowedCpus();
  if (cpus.length < 2) {
    return { serverCpu: undefined, generatorCpu: undefined, note: `not pinned: ${cpus.length} CPU allowed` };
  }
  const probe = spawnSync('taskset', ['-c', String(cpus[0]), 'true'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    return {
      serverCpu: undefined,
      generatorCpu: undefined,
      note: 'not pinned: taskset is missing or failed (apt-get install util-linux)',
    };
  }
  return {
    serverCpu: cpus[0],
    generatorCpu: cpus[1],
    note: `servers on CPU ${cpus[0]}, load generator and origin on CPU ${cpus[1]} (taskset)`,
  };
}

/** The command line that runs `command` on `cpu` (as it is when cpu is undefined). */
export function pinned(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
}

const live = new Set<ChildProcess>();

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  cpu: number | undefined;
  /** The child's stdout and stderr go here. */
  logFile: string;
  /** Ready when a JSON line of its stdout passes this test; its result is returned. */
  ready: (line: Record<string, unknown>) => boolean;
  readyTimeoutMs?: number;
}

/** A started child; `ready` is the JSON line that said it was ready. */
export interface BenchChild {
  name: string;
  process: ChildProcess;
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts a child and waits (polling its log file) until it prints its ready line or exits. */
export async function startChild(options: StartOptions): Promise<BenchChild> {
  const [command, args] = pinned(options.cpu, options.command, options.args);
  const fd = openSync(options.logFile, 'w');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  live.add(child);
  let exited = false;
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  child.once('exit', () => {
    exited = true;
    live.delete(child);
  });
  const handle: BenchChild = {
    name: options.name,
    process: child,
    ready: {},
    stop: () => stopChild(child),
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  let offset = 0;
  while (Date.now() < deadline) {
    const text = readFileSync(options.logFile, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    for (const line of text.slice(offset, end).split('\n')) {
      if (!line.startsWith('{')) continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a line that is not JSON is not the ready line.
      }
      if (options.ready(parsed)) {
        handle.ready = parsed;
        return handle;
      }
    }
    offset = end;
    if (spawnError || exited) break;
    await sleep(20);
  }
  await stopChild(child);
  const tail = readFileSync(options.logFile, 'utf8').split('\n').slice(-15).join('\n');
  throw new Error(
    `${options.name} did not become ready (${spawnError?.message ?? (exited ? 'it exited' : 'timed out')}); ` +
      `last lines of ${options.logFile}:\n${tail}`,
  );
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves when it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every child still running, in parallel. */
export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, graceMs)));
}

/**
 * Installs the handlers that end every child with the bench: SIGINT/SIGTERM stop them, run
 * `cleanup` and exit 130/143; a crash of the bench itself SIGKILLs whatever is left on the way out.
 */
export function stopChildrenOnExit(cleanup: () => void): void {
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    process.stderr.write(`\nbench: ${signal}, stopping child processes\n`);
    void stopAll(3_000).finally(() => {
      cleanup();
      process.exit(code);
    });
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** Registers a process the bench spawned itself (wrk) so that a signal stops it too. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}
