// A worker process of a node with workers > 1: runs the node's role on the config its primary
// handed it, without an admin listener (the primary serves it, with every worker's metrics),
// says when it is ready, and drains when its primary tells it to (or on SIGTERM).

import { AggregatorRegistry } from 'prom-client';
import { validateConfig } from '../config/config.js';
import { StrataNode } from '../node.js';
import type { NodeRole } from '../node-role.js';
import type { PurgeIpcMessage } from './purge-fanout.js';
import { PurgeRelayClient } from './purge-relay.js';

/** The messages between a primary and its workers (over the cluster IPC channel). */
export type WorkerMessage =
  { type: 'strata:ready'; index: number; httpPort: number } | { type: 'strata:drain' };

/** Environment variables a primary starts a worker with. */
export const workerEnv = { index: 'STRATA_WORKER', config: 'STRATA_WORKER_CONFIG' } as const;

/** Runs until drained; the exit code for the process. */
export async function runWorker(role: NodeRole): Promise<number> {
  const index = Number(process.env[workerEnv.index]);
  const { config, problems } = validateConfig(JSON.parse(process.env[workerEnv.config] ?? 'null'));
  if (!config) throw new Error(`worker ${index}: config invalid: ${JSON.stringify(problems)}`);
  // PURGE requests go to the primary, which has the node's purge bus.
  const relay = new PurgeRelayClient();
  const node = new StrataNode(config, { role, worker: index, publishPurge: relay.publish });
  // The primary's /metrics asks every worker for these over IPC and sums them (prom-client
  // answers those requests once an AggregatorRegistry exists in the worker).
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([node.metrics.registry]);
  // Ctrl-C reaches the whole process group: the primary decides when workers drain.
  process.on('SIGINT', () => {});
  await node.start();
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
  const drained = new Promise<void>((resolve) => {
    process.on('message', (m: WorkerMessage) => m?.type === 'strata:drain' && resolve());
    process.once('SIGTERM', () => resolve());
    // The primary is gone: nobody supervises this worker any more.
    process.once('disconnect', () => resolve());
  });
  send({ type: 'strata:ready', index, httpPort: node.http.port });
  await drained;
  await node.stop();
  // The IPC channel would keep the process alive: close it, so that it exits once idle.
  if (process.connected) process.disconnect();
  return 0;
}

function send(message: WorkerMessage): void {
  process.send?.(message);
}
