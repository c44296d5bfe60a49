// A real redis-server for a test: its own process on a free loopback port, no persistence
// unless asked for (an append-only file in a temp dir),
// stopped after the test. The binary is $STRATA_REDIS_SERVER, the one on PATH, or the copy
// test/setup/redis.sh (run before `npm test`) fetched into node_modules/.cache.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';

const fetched = resolve('node_modules/.cache/strata/redis');

export interface TestRedis {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGKILL with `crash`, else SIGTERM) and waits for it to exit. */
  stop(crash?: boolean): Promise<void>;
  /** Starts it again on the same port (after stop), as a restarted Redis would come back. */
  restart(): Promise<void>;
}

export interface RedisSpec {
  /** More arguments for redis-server (e.g. --replicaof 127.0.0.1 PORT). */
  args?: string[];
  /**
   * Keep the data across stop/restart: an append-only file in a temp dir, fsynced at every
   * write (appendfsync always), as a Redis that must not lose an accepted purge is run.
   */
  persist?: boolean;
}

/** A redis-server on an ephemeral port, stopped when the test ends. */
export async function startRedis(t: TestContext, spec: RedisSpec = {}): Promise<TestRedis> {
  const port = await freePort();
  // Its own directory, always: a replica writes the RDB it receives to its dir, and a server
  // started in a dir with a dump.rdb would load it (in the working dir, another test's data).
  const dir = await mkdtemp(join(tmpdir(), 'strata-redis-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const persistArgs = [
    '--dir',
    dir,
    ...(spec.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : []),
  ];
  const launch = (p: number) => launchWith(p, [...persistArgs, ...(spec.args ?? [])]);
  let child = await launch(port);
  const redis: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get process() {
      return child;
    },
    stop: (crash = false) => halt(child, crash),
    restart: async () => {
      child = await launch(port);
    },
  };
  t.after(() => redis.stop(true));
  return redis;
}

export interface TestSentinel {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * A Redis Sentinel (redis-server --sentinel, which is what Debian's redis-sentinel runs) on a
 * free port, watching the primary at `primaryPort` under `name`, with a quorum of 1 and short
 * timeouts, so a test sees a failover within seconds. Stopped after the test.
 */
export async function startSentinel(
  t: TestContext,
  name: string,
  primaryPort: number,
): Promise<TestSentinel> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'strata-sentinel-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'sentinel.conf');
  await writeFile(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 1`,
      `sentinel down-after-milliseconds ${name} 400`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const { file: bin, env } = binary();
  const child = spawn(bin, [file, '--sentinel'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((ready, failed) => {
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('+monitor master')) {
        child.stdout!.off('data', collect);
        child.stdout!.resume();
        ready();
      }
    };
    child.once('exit', (code) => failed(new Error(`redis sentinel exited (${code}): ${output.trim()}`)));
    child.stdout!.on('data', collect);
  });
  const sentinel = { port, stop: () => halt(child, true) };
  t.after(() => sentinel.stop());
  return sentinel;
}

function binary(): { file: string; env: NodeJS.ProcessEnv } {
  const named = process.env.STRATA_REDIS_SERVER;
  if (named) return { file: named, env: process.env };
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'redis-server')))
      return { file: join(dir, 'redis-server'), env: process.env };
  }
  const file = join(fetched, 'usr/bin/redis-server');
  if (!existsSync(file)) throw new Error('no redis-server: run `bash test/setup/redis.sh` (npm test does)');
  const libs = readdirSync(join(fetched, 'usr/lib'))
    .filter((d) => d.endsWith('-linux-gnu'))
    .map((d) => join(fetched, 'usr/lib', d));
  return { file, env: { ...process.env, LD_LIBRARY_PATH: libs.join(delimiter) } };
}

async function launchWith(port: number, persist: string[]): Promise<ChildProcess> {
  const { file, env } = binary();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', ''];
  args.push(...(persist.includes('--appendonly') ? persist : ['--appendonly', 'no', ...persist]));
  const child = spawn(file, [...args, '--daemonize', 'no', '--logfile', ''], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((ready, failed) => {
    const exited = (code: number | null) =>
      failed(new Error(`redis-server exited (${code}): ${output.trim()}`));
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes('Ready to accept connections')) return;
      child.off('exit', exited);
      child.stdout!.off('data', collect);
      child.stdout!.resume();
      ready();
    };
    child.once('exit', exited);
    child.once('error', failed);
    child.stdout!.on('data', collect);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  });
  return child;
}

function halt(child: ChildProcess, crash: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill(crash ? 'SIGKILL' : 'SIGTERM');
  });
}

/** A port nothing listens on now (bound and released: Redis cannot bind port 0). */
function freePort(): Promise<number> {
  return new Promise((done, failed) => {
    const server = createServer();
    server.once('error', failed);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}
