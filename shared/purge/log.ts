// PurgeLog: the purge bus's transport, one narrow interface with two implementations: Redis
// (redis-log.ts: a stream as the durable log, pub/sub to announce purges and acknowledgements,
// a sorted set of heartbeats) and an in-process one (memory-log.ts) for a node without
// purge.redis. The agent (agent.ts) and the API (api.ts) work the same over either.

import type { Heartbeat, PurgeAck, PurgeMessage, PurgeSpec } from './message.js';

/** Whether the transport can take and deliver purges now. */
export type LogState = 'up' | 'down';

export interface LogEvents {
  /** A purge was appended (anywhere): read the log after your position. */
  announce?(id: string): void;
  /** A node acknowledged a purge. */
  ack?(ack: PurgeAck): void;
  /** The connection came up (catch up) or went down (`reason`). */
  state?(state: LogState, reason?: string): void;
}

export interface PurgeLog {
  readonly kind: 'redis' | 'memory';
  readonly state: LogState;
  /** Why the log is down, for /readyz and the API's 503. */
  readonly reason: string | undefined;
  /** Connects; resolves once up or once the first attempt failed (it keeps retrying). */
  start(): Promise<void>;
  stop(): Promise<void>;
  subscribe(events: LogEvents): () => void;
  /** Resolves once acknowledgements reach the listeners subscribed with `ack` (Redis: SUBSCRIBE done). */
  acksReady(): Promise<void>;
  /**
   * Appends a purge and announces it; resolves with it (its id is its place in the log) once
   * it is as durable as configured. Throws PURGE_UNAVAILABLE (not appended) or PURGE_NOT_DURABLE.
   */
  append(spec: PurgeSpec, atMs: number): Promise<PurgeMessage>;
  /** Up to `count` purges after `id`, in log order. */
  readAfter(id: string, count: number): Promise<PurgeMessage[]>;
  /** One purge by id. */
  read(id: string): Promise<PurgeMessage | undefined>;
  /** The id of the last purge in the log ('0-0' when empty). */
  lastId(): Promise<string>;
  /** Whether purges after `id` may have been trimmed away (or lost) before this node read them. */
  lostAfter(id: string): Promise<boolean>;
  /** Records and announces a node's acknowledgement. */
  ack(ack: PurgeAck): Promise<void>;
  acks(id: string): Promise<PurgeAck[]>;
  /** Records which nodes a purge waits for. */
  expect(id: string, nodes: readonly string[]): Promise<void>;
  expected(id: string): Promise<string[] | undefined>;
  /** Writes a node's heartbeat (live until atMs + 3 intervals). */
  heartbeat(beat: Heartbeat): Promise<void>;
  /** Heartbeats of the nodes live at `nowMs`. */
  liveNodes(nowMs: number): Promise<Heartbeat[]>;
  /** Removes a node's heartbeat (it stops). */
  leave(node: string): Promise<void>;
}

/** A node counts as live for this many heartbeat intervals after its last heartbeat. */
export const liveIntervals = 3;
