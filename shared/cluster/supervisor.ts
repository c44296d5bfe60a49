// Supervisor: the primary process of a node with workers > 1. It serves the admin listener
// (/metrics summed over the workers), forks the workers, restarts one that exits with a backoff,
// replaces them one at a time on a reload (SIGHUP: the config file is checked first; a bad one
// is refused and the workers keep running), and drains them all on stop.

import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { AdminServer } from '../admin-server.js';
import type { ReloadOutcome } from '../admin-reload.js';
import { loadConfig, type StrataConfig } from '../config/config.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeRole, RoleService } from '../node-role.js';
import { ServiceGroup } from '../service.js';
import { removeStaleShards, workerConfig, workerCount } from './worker-config.js';
import { heapLimitMiB, heapNeededMiB } from '../heap.js';
import { handoffMs, workerEnv, type WorkerMessage } from './worker.js';
import { PurgeFanout, type PurgeIpcMessage } from './purge-fanout.js';
import { relayPurge, type PurgeRelayMessage } from './purge-relay.js';
import { primaryPurgeBus } from './primary-purge.js';
import type { PurgeBus } from '../purge/bus.js';

/** A worker that fails again soon after a restart waits longer each time, up to this. */
const maxBackoffMs = 30_000;
/** A worker that ran this long before exiting is restarted at once. */
const stableMs = 30_000;
/** How long a new worker may take to become ready. */
const readyTimeoutMs = 30_000;

interface Slot {
  worker: Worker;
  ready: boolean;
  startedAt: number;
  /** Resolves when the worker is ready; rejects when it exits first or takes too long. */
  readiness: Promise<void>;
}

export interface SupervisorOptions {
  role: NodeRole;
  /** The file the config came from; read again on reload. */
  configFile: string;
  config: StrataConfig;
  log: Logger;
}

export class Supervisor {
  private config: StrataConfig;
  private readonly slots = new Map<number, Slot>();
  /** Consecutive quick failures per worker index, for the restart backoff. */
  private readonly failures = new Map<number, number>();
  private stopping = false;
  private reloading: Promise<ReloadOutcome> | undefined;
  readonly admin: AdminServer;
  private readonly registry = new Registry();
  private readonly restarts: Counter;
  private httpPort = 0;
  /** The role's once-per-node services (an edge's relays): here, not in the workers. */
  readonly nodeServices: readonly RoleService[];
  private readonly nodeGroup: ServiceGroup;
  /** The workers' sockets for fills between them (siblings.ts): a folder only this node uses. */
  private readonly dir = mkdtempSync(join(tmpdir(), 'strata-'));
  /** Workers replaced on a reload that still hand their memory tier over (handOff). */
  private readonly handingOff = new Set<Promise<void>>();
  /** How many workers the running config asks for (their siblings' count). */
  private count = 0;
  /** The node's purge agent and API: here, fanned out to the workers (purge-fanout.ts). */
  private readonly purge: PurgeBus;
  private readonly fanout: PurgeFanout;

  constructor(private readonly options: SupervisorOptions) {
    this.config = options.config;
    const aggregator = new AggregatorRegistry();
    this.restarts = new Counter({
      name: 'strata_worker_restarts_total',
      help: 'Worker processes started again after one exited without being asked to.',
      registers: [this.registry],
    });
    const slots = this.slots;
    new Gauge({
      name: 'strata_workers_ready',
      help: 'Worker processes serving requests.',
      registers: [this.registry],
      collect() {
        this.set([...slots.values()].filter((s) => s.ready).length);
      },
    });
    const own = this.registry;
    this.admin = new AdminServer(
      options.config.listen.admin,
      {
        contentType: own.contentType,
        metrics: async () => `${await aggregator.clusterMetrics()}\n${await own.metrics()}`,
      },
      // The node serves while any worker does (connections go to the workers listening).
      () => [...slots.values()].some((s) => s.ready),
    );
    this.nodeServices =
      options.role.nodeServices?.(options.config, {
        log: options.log,
        accessLog: options.config.log.access ? options.log.child({}, { level: 'info' }) : undefined,
        registry: this.registry,
        now: Date.now,
      }) ?? [];
    for (const service of this.nodeServices) this.admin.checks.push(() => service.readiness());
    this.nodeGroup = new ServiceGroup(this.nodeServices);
    this.fanout = new PurgeFanout(() => this.readyWorkers(), this.config.purge.api.maxWait);
    this.purge = primaryPurgeBus(
      this.config,
      options.role.name,
      this.fanout,
      this.options.log,
      own,
      this.admin,
      () => ({
        httpPort: this.httpPort,
        adminPort: this.admin.port,
        workers: [...this.slots.values()].filter((s) => s.ready).length,
      }),
    );
  }

  private readyWorkers(): Map<number, Worker> {
    const ready = new Map<number, Worker>();
    for (const [index, slot] of this.slots) if (slot.ready) ready.set(index, slot.worker);
    return ready;
  }

  /** Starts the admin listener and every worker; throws (having stopped what started) if one fails. */
  async start(): Promise<{ httpPort: number; adminPort: number; workers: number }> {
    // Before anything starts: a split that fails must not leave node services running.
    const count = workerCount(this.config);
    const share = workerConfig(this.config, count);
    await this.admin.start();
    try {
      await this.nodeGroup.start();
    } catch (err) {
      await this.admin.stop();
      rmSync(this.dir, { recursive: true, force: true });
      throw err;
    }
    this.count = count;
    this.dropStaleShards(this.config, count);
    try {
      // One first: a config that cannot start (a port in use) fails once, not once per worker.
      await this.fork(0, share).readiness;
      await Promise.all(Array.from({ length: count - 1 }, (_, i) => this.fork(i + 1, share).readiness));
    } catch (err) {
      await this.stop();
      throw err;
    }
    // Once the workers serve: catch up with the purge log, then heartbeats.
    try {
      await this.purge.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.purge.announce();
    this.admin.ready = true;
    return { httpPort: this.httpPort, adminPort: this.admin.port, workers: count };
  }

  /** `predecessor`: it replaces a worker that hands its memory tier over (siblings.ts). */
  private fork(index: number, config: StrataConfig, predecessor = false): Slot {
    // A worker's share of the memory tier may need more heap than V8 gives by default: set it
    // (a single process is refused instead, see shared/heap.ts).
    const heap = heapNeededMiB(config);
    cluster.setupPrimary({
      execArgv: [
        ...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')),
        ...(heap > heapLimitMiB() ? [`--max-old-space-size=${heap}`] : []),
      ],
    });
    const worker = cluster.fork({
      [workerEnv.index]: String(index),
      [workerEnv.count]: String(this.count),
      [workerEnv.dir]: this.dir,
      [workerEnv.predecessor]: predecessor ? '1' : '0',
      [workerEnv.config]: JSON.stringify(config),
    });
    let settle!: { resolve: () => void; reject: (err: Error) => void };
    const readiness = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const slot: Slot = { worker, ready: false, startedAt: Date.now(), readiness };
    const timer = setTimeout(
      () => settle.reject(new Error(`worker ${index} was not ready within ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
    worker.on('message', (m: WorkerMessage | PurgeIpcMessage | PurgeRelayMessage) => {
      if (m?.type === 'strata:purged') return this.fanout.received(index, m);
      if (m?.type === 'strata:purge-publish')
        return relayPurge(worker, m, (urls) => this.purge.publish(urls));
      if (m?.type === 'strata:failed') settle.reject(new Error(m.message));
      if (m?.type !== 'strata:ready') return;
      clearTimeout(timer);
      slot.ready = true;
      this.httpPort = m.httpPort;
      this.options.log.info({ worker: index, pid: worker.process.pid }, 'worker ready');
      for (const [i, other] of this.slots)
        if (i !== index && other.worker.isConnected())
          other.worker.send({ type: 'strata:sibling-ready', index } satisfies WorkerMessage, () => undefined);
      settle.resolve();
    });
    worker.on('exit', (code, signal) => {
      clearTimeout(timer);
      slot.ready = false;
      settle.reject(new Error(`worker ${index} exited (${signal ?? `code ${code}`}) before it was ready`));
      // Replaced (reload) or stopping: this exit was asked for.
      if (this.stopping || this.slots.get(index) !== slot) return;
      this.restart(index, slot, code, signal);
    });
    this.slots.set(index, slot);
    return slot;
  }

  /** A worker exited unasked: start another in its place, after a backoff if it keeps failing. */
  private restart(index: number, slot: Slot, code: number | null, signal: string | null): void {
    const quick = Date.now() - slot.startedAt < stableMs;
    const failures = quick ? (this.failures.get(index) ?? 0) + 1 : 0;
    this.failures.set(index, failures);
    const delayMs = failures === 0 ? 0 : Math.min(maxBackoffMs, 100 * 2 ** (failures - 1));
    this.options.log.warn({ worker: index, code, signal, restartInMs: delayMs }, 'worker exited, restarting');
    this.restarts.inc();
    setTimeout(() => {
      if (this.stopping || this.slots.get(index) !== slot) return;
      this.fork(index, workerConfig(this.config, workerCount(this.config))).readiness.catch((err: Error) =>
        this.options.log.error({ worker: index, err: err.message }, 'restarted worker failed'),
      );
    }, delayMs).unref();
  }

  /**
   * Applies the config file as it is now: checks it (a bad one is refused, with every problem,
   * and nothing changes), then replaces the workers one at a time, each new one ready before
   * its predecessor drains, so no request fails (SIGHUP and POST /reload). Concurrent calls
   * share one reload.
   */
  reload(): Promise<ReloadOutcome> {
    this.reloading ??= this.roll().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async roll(): Promise<ReloadOutcome> {
    const { log, role, configFile } = this.options;
    let next: StrataConfig;
    try {
      next = await loadConfig(configFile);
      const problems = role.problems(next);
      if (next.listen.admin !== this.config.listen.admin)
        problems.push({ path: 'listen.admin', message: 'the admin listener changes only with a restart' });
      if (next.listen.http !== this.config.listen.http)
        problems.push({ path: 'listen.http', message: 'the listener changes only with a restart' });
      if (JSON.stringify(next.relays) !== JSON.stringify(this.config.relays))
        problems.push({ path: 'relays', message: 'relays change only with a restart' });
      // The primary runs the GeoDNS server, with the regions it answers from.
      const dnsChanged =
        JSON.stringify(next.dns) !== JSON.stringify(this.config.dns) ||
        (next.dns !== undefined && JSON.stringify(next.geo) !== JSON.stringify(this.config.geo));
      if (dnsChanged)
        problems.push({
          path: 'dns',
          message: 'the GeoDNS server (dns, and geo with it) changes only with a restart',
        });
      if (problems.length > 0) throw new StrataError('CONFIG_INVALID', undefined, { problems });
    } catch (err) {
      const found = (err as StrataError).context?.problems as { path: string; message: string }[] | undefined;
      const problems = found?.map((p) => `${p.path}: ${p.message}`) ?? [(err as Error).message];
      log.error({ file: configFile, problems }, 'reload refused: the workers keep the running config');
      return { config: 'refused', problems };
    }
    const count = workerCount(next);
    const share = workerConfig(next, count);
    const previous = this.count;
    this.count = count;
    // A worker's disk tier (one LevelDB) opens in one process at a time: its successor starts
    // once it has drained (the other workers serve meanwhile). Without one, the successor is
    // ready before the old worker drains.
    const diskFirst = next.cache.disk !== undefined || this.config.cache.disk !== undefined;
    log.info({ file: configFile, workers: count }, 'reloading: replacing workers one at a time');
    for (let index = 0; index < Math.max(count, this.slots.size); index++) {
      if (this.stopping) return { config: 'failed', message: 'the node is stopping' };
      const old = this.slots.get(index);
      if (old && diskFirst) {
        this.slots.delete(index);
        await this.drain(old.worker);
      }
      // Without a disk tier the old worker's memory would be lost: it hands it over instead.
      const handOver = old !== undefined && !diskFirst && index < count;
      if (handOver) old.worker.send({ type: 'strata:hand-over' } satisfies WorkerMessage, () => undefined);
      if (index < count) {
        try {
          await this.fork(index, share, handOver).readiness;
        } catch (err) {
          // Keep what runs: the old worker (if any, and still running) goes back into its slot.
          log.error({ worker: index, err: (err as Error).message }, 'reload stopped: a new worker failed');
          this.count = previous;
          if (old && diskFirst) {
            // The old worker drained already: one on the running config takes its place.
            this.fork(index, workerConfig(this.config, previous)).readiness.catch((e: Error) =>
              log.error({ worker: index, err: e.message }, 'restarted worker failed'),
            );
          } else if (old) this.slots.set(index, old);
          else this.slots.delete(index);
          return { config: 'failed', message: `worker ${index}: ${(err as Error).message}` };
        }
      } else this.slots.delete(index);
      if (handOver) this.handOff(index, old.worker, this.slots.get(index)!.worker);
      else if (old && !diskFirst) await this.drain(old.worker);
    }
    this.config = next;
    this.dropStaleShards(next, count);
    log.info({ workers: count }, 'reloaded');
    return { config: 'applied', workers: count };
  }

  private dropStaleShards(config: StrataConfig, count: number): void {
    const removed = removeStaleShards(config, count);
    if (removed.length > 0)
      this.options.log.info(
        { removed, workers: count },
        'removed the disk tiers of workers no longer configured',
      );
  }

  /**
   * Drains a worker that hands over, without waiting: it answers its successor's fills for a
   * while (handoffMs) after its clients have gone; the successor hears when it has exited.
   */
  private handOff(index: number, old: Worker, successor: Worker): void {
    const done = this.drain(old, handoffMs(this.config)).then(() => {
      this.options.log.info(
        { worker: index, pid: old.process.pid },
        'replaced worker handed over and exited',
      );
      if (successor.isConnected())
        successor.send({ type: 'strata:predecessor-gone' } satisfies WorkerMessage, () => undefined);
    });
    this.handingOff.add(done);
    void done.finally(() => this.handingOff.delete(done));
  }

  /** Tells a worker to drain and waits for it to exit; SIGKILL past the drain time and a margin. */
  private async drain(worker: Worker, extraMs = 0): Promise<void> {
    if (worker.isDead()) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // One that failed to start disconnects and is on its way out: a send that finds the channel
    // closed (then or on the way) is no matter.
    if (worker.isConnected()) worker.send({ type: 'strata:drain' } satisfies WorkerMessage, () => undefined);
    const timer = setTimeout(
      () => worker.process.kill('SIGKILL'),
      this.config.shutdown.drainTimeout + extraMs + 5_000,
    );
    await exited;
    clearTimeout(timer);
  }

  /** Not ready, every worker drained (in parallel), then the admin listener closed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.admin.ready = false;
    await this.reloading?.catch(() => undefined);
    await this.purge.stop();
    const deadlineMs = Date.now() + this.config.shutdown.drainTimeout;
    await Promise.all([
      ...[...this.slots.values()].map((s) => this.drain(s.worker)),
      ...this.handingOff,
      this.nodeGroup.stop(deadlineMs),
    ]);
    this.slots.clear();
    rmSync(this.dir, { recursive: true, force: true });
    await this.admin.stop();
  }
}
