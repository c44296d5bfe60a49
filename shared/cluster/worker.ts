// A worker process of a node with workers > 1: runs the node's role on the config its primary
// handed it, without an admin listener (the primary serves it, with every worker's metrics),
// says when it is ready, and drains when its primary tells it to (or on SIGTERM).

import { AggregatorRegistry, Gauge } from 'prom-client';
import { validateConfig, type StrataConfig } from '../config/config.js';
import { StrataNode } from '../node.js';
import type { NodeRole } from '../node-role.js';
import type { PurgeIpcMessage } from './purge-fanout.js';
import { PurgeRelayClient } from './purge-relay.js';

/** The messages between a primary and its workers (over the cluster IPC channel). */
export type WorkerMessage =
  | { type: 'strata:ready'; index: number; httpPort: number }
  | { type: 'strata:failed'; index: number; message: string }
  | { type: 'strata:drain' }
  /** Sent to a worker about to be replaced, before its successor starts (siblings.ts). */
  | { type: 'strata:hand-over' }
  /** Sent to that successor once the worker it replaced has exited. */
  | { type: 'strata:predecessor-gone' }
  /** Sent to every other worker when one (re)starts. */
  | { type: 'strata:sibling-ready'; index: number };

/** How long a worker replaced on a reload answers its successor's fills: up to 10 s. */
export function handoffMs(config: StrataConfig): number {
  return Math.min(10_000, config.shutdown.drainTimeout);
}

/** Environment variables a primary starts a worker with. */
export const workerEnv = {
  index: 'STRATA_WORKER',
  count: 'STRATA_WORKER_COUNT',
  dir: 'STRATA_WORKER_DIR',
  predecessor: 'STRATA_WORKER_PREDECESSOR',
  config: 'STRATA_WORKER_CONFIG',
} as const;

/** Runs until drained; the exit code for the process. */
export async function runWorker(role: NodeRole): Promise<number> {
  const index = Number(process.env[workerEnv.index]);
  const place = {
    index,
    count: Number(process.env[workerEnv.count]),
    dir: process.env[workerEnv.dir] ?? '',
    predecessor: process.env[workerEnv.predecessor] === '1',
  };
  const { config, problems } = validateConfig(JSON.parse(process.env[workerEnv.config] ?? 'null'));
  if (!config) throw new Error(`worker ${index}: config invalid: ${JSON.stringify(problems)}`);
  // PURGE requests go to the primary, which has the node's purge bus.
  const relay = new PurgeRelayClient();
  const node = new StrataNode(config, { role, worker: place, publishPurge: relay.publish });
  // The primary's /metrics asks every worker for these over IPC and sums them (prom-client
  // answers those requests once an AggregatorRegistry exists in the worker).
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([node.metrics.registry]);
  // Summed over workers, memory says little about one that grows alone: this one keeps its label.
  new Gauge({
    name: 'strata_worker_memory_bytes',
    help: 'Memory of each worker process: resident set (rss) and JavaScript heap in use (heap_used).',
    labelNames: ['worker', 'kind'] as const,
    registers: [node.metrics.registry],
    collect() {
      const m = process.memoryUsage();
      this.set({ worker: String(index), kind: 'rss' }, m.rss);
      this.set({ worker: String(index), kind: 'heap_used' }, m.heapUsed);
    },
  });
  // Ctrl-C reaches the whole process group: the primary decides when workers drain.
  process.on('SIGINT', () => {});
  try {
    await node.start();
  } catch (err) {
    // The primary says why, once for the node (not once per worker), and exits 1.
    send({ type: 'strata:failed', index, message: (err as Error).message });
    // The IPC channel would keep a failed worker alive.
    if (process.connected) process.disconnect();
    return 1;
  }
  // Purges from the primary's agent (purge-fanout.ts): applied here, answered with the count.
  process.on('message', (m: PurgeIpcMessage) => {
    if (m?.type !== 'strata:purge') return;
    node.purger.apply(m.spec).then(
      (objects) => process.send?.({ type: 'strata:purged', seq: m.seq, objects } satisfies PurgeIpcMessage),
      (err: Error) =>
        process.send?.({
          type: 'strata:purged',
          seq: m.seq,
          objects: 0,
          error: err.message,
        } satisfies PurgeIpcMessage),
    );
  });
  let handingOver = false;
  const drained = new Promise<void>((resolve) => {
    process.on('message', (m: WorkerMessage) => {
      if (m?.type === 'strata:drain') resolve();
      else if (m?.type === 'strata:hand-over') {
        handingOver = true;
        node.handOver().catch((err: Error) => node.log.warn({ err: err.message }, 'hand-over failed'));
      } else if (m?.type === 'strata:predecessor-gone') node.predecessorGone();
      else if (m?.type === 'strata:sibling-ready') node.siblingReady(m.index);
    });
    process.once('SIGTERM', () => resolve());
    // The primary is gone: nobody supervises this worker any more.
    process.once('disconnect', () => resolve());
  });
  send({ type: 'strata:ready', index, httpPort: node.http.port });
  await drained;
  // Replaced on a reload: its successor fills from this memory tier for a while.
  if (handingOver) await node.retire(handoffMs(config));
  await node.stop();
  // A connection the primary handed over just before it heard that this worker's listener
  // closed is refused over IPC, and the primary gives it to another worker; a worker already
  // disconnected would leave it open with nobody to answer. So the channel stays a moment.
  await new Promise((resolve) => setTimeout(resolve, 250));
  // The IPC channel would keep the process alive: close it, so that it exits once idle.
  if (process.connected) process.disconnect();
  return 0;
}

function send(message: WorkerMessage): void {
  process.send?.(message);
}
