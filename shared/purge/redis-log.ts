// RedisLog: the purge log over Redis with ioredis. Two connections per node: one for commands,
// one subscribed to the announcements. Keys (docs/admin-api.md, "Purge bus in Redis"):
//   strata:purge:log              stream, one entry per purge (field m: the purge, v1 JSON),
//                                 trimmed by age (purge.stream.maxAge) on every append
//   strata:purge:announce         channel: the id of each purge appended
//   strata:purge:acks             channel: each acknowledgement (v1 JSON)
//   strata:purge:acks:<id>        hash node -> acknowledgement, expires with the log
//   strata:purge:expect:<id>      the nodes a purge waits for (JSON list), expires with the log
//   strata:nodes                  sorted set node -> ms until which it counts as live
//   strata:nodes:info             hash node -> its last heartbeat (v1 JSON)
//   strata:nodes:heartbeat        channel: each heartbeat (for GeoDNS and dashboards)

import { Redis, type RedisOptions } from 'ioredis';
import type { PurgeConfig } from '../config/config.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  compareIds,
  decodePurge,
  decodeVersioned,
  encodePurge,
  type Heartbeat,
  type PurgeAck,
  type PurgeMessage,
  type PurgeSpec,
} from './message.js';
import { liveIntervals, type LogEvents, type LogState, type PurgeLog } from './log.js';

/** purge.redis: a URL, or a Sentinel set naming the primary. */
export type RedisTarget = string | { sentinels: string[]; name: string; password?: string };

export interface RedisLogOptions {
  target: RedisTarget;
  /** Purges older than this are trimmed from the stream (and their acknowledgements expire). */
  maxAgeMs: number;
  /** Replicas that must have a purge before it is accepted (WAIT); 0: the primary's word is enough. */
  replicas: number;
  /** How long WAIT may take. */
  replicaTimeoutMs: number;
  log: Logger;
  /**
   * Only reads (GeoDNS reading heartbeats): no subscriber connection, so no purge
   * announcements reach it. Default false.
   */
  readOnly?: boolean;
}

/** The Redis log of purge.redis (which must be set), with the purge section's limits. */
export function redisLogFor(purge: PurgeConfig, log: Logger, readOnly = false): RedisLog {
  return new RedisLog({
    target: purge.redis!,
    maxAgeMs: purge.stream.maxAge,
    replicas: purge.replicas,
    replicaTimeoutMs: purge.replicaTimeout,
    log,
    readOnly,
  });
}

const keys = {
  stream: 'strata:purge:log',
  announce: 'strata:purge:announce',
  ackChannel: 'strata:purge:acks',
  acks: (id: string) => `strata:purge:acks:${id}`,
  expect: (id: string) => `strata:purge:expect:${id}`,
  nodes: 'strata:nodes',
  info: 'strata:nodes:info',
  beat: 'strata:nodes:heartbeat',
};

/** The longest wait between reconnection attempts. */
export const maxReconnectDelayMs = 2000;

/** Reconnect backoff: 50 ms doubling to 2 s, forever (a node keeps serving meanwhile). */
const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), maxReconnectDelayMs);

export class RedisLog implements PurgeLog {
  readonly kind = 'redis';
  state: LogState = 'down';
  reason: string | undefined = 'not connected yet';
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly listeners = new Set<LogEvents>();
  private stopped = false;
  private ackListeners = 0;
  private ackSubscribed: Promise<void> = Promise.resolve();

  constructor(private readonly options: RedisLogOptions) {
    const base: RedisOptions = {
      lazyConnect: true,
      retryStrategy,
      // A command while Redis is away fails at once (the API answers 503) instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      ...connection(options.target),
    };
    this.cmd = new Redis(base);
    // The subscriber queues its SUBSCRIBE until connected, and subscribes again on reconnect.
    this.sub = new Redis({ ...base, enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.cmd.on('ready', () => this.setState('up'));
    this.cmd.on('error', (err: Error) => this.setState('down', err.message));
    this.cmd.on('close', () => this.setState('down', this.reason ?? 'connection closed'));
    // Errors of the subscriber show on the command connection too; ioredis wants a listener.
    this.sub.on('error', () => undefined);
    this.sub.on('message', (channel: string, text: string) => this.message(channel, text));
  }

  async start(): Promise<void> {
    if (!this.options.readOnly) {
      void this.sub.subscribe(keys.announce).catch(() => undefined);
      this.sub.connect().catch(() => undefined);
    }
    // The first attempt's outcome is enough: past it, ioredis reconnects with the backoff.
    await this.cmd.connect().catch((err: Error) => this.setState('down', err.message));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.listeners.clear();
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  /**
   * Acknowledgements are listened to only while someone waits for them (an API call with
   * ?wait): a fleet of N nodes sends N per purge, which no other node needs to parse.
   */
  subscribe(events: LogEvents): () => void {
    this.listeners.add(events);
    if (events.ack && this.ackListeners++ === 0)
      this.ackSubscribed = this.sub.subscribe(keys.ackChannel).then(
        () => undefined,
        () => undefined,
      );
    return () => {
      if (!this.listeners.delete(events) || !events.ack) return;
      if (--this.ackListeners === 0) void this.sub.unsubscribe(keys.ackChannel).catch(() => undefined);
    };
  }

  /** Resolves once acknowledgements reach this node's listeners (after subscribe() with `ack`). */
  acksReady(): Promise<void> {
    return this.ackSubscribed;
  }

  async append(spec: PurgeSpec, atMs: number): Promise<PurgeMessage> {
    const text = encodePurge(spec, atMs);
    const minId = `${Math.max(0, atMs - this.options.maxAgeMs)}-0`;
    let id: string;
    try {
      id = (await this.cmd.xadd(keys.stream, 'MINID', '~', minId, '*', 'm', text)) as string;
    } catch (err) {
      throw StrataError.because('PURGE_UNAVAILABLE', err);
    }
    const message = decodePurge(id, text)!;
    // The announcement only hurries nodes: one lost is made up by the next read of the log.
    this.cmd.publish(keys.announce, id).catch(() => undefined);
    if (this.options.replicas > 0) {
      const acked = await this.cmd
        .wait(this.options.replicas, this.options.replicaTimeoutMs)
        .catch((err: unknown) => {
          throw StrataError.because('PURGE_NOT_DURABLE', err, { id });
        });
      if (acked < this.options.replicas)
        throw new StrataError(
          'PURGE_NOT_DURABLE',
          `only ${acked} of ${this.options.replicas} replicas confirmed purge ${id} in time (purge.replicas)`,
          { id },
        );
    }
    return message;
  }

  async readAfter(id: string, count: number): Promise<PurgeMessage[]> {
    const entries = await this.cmd.xrange(keys.stream, `(${id}`, '+', 'COUNT', count);
    return this.decode(entries);
  }

  async read(id: string): Promise<PurgeMessage | undefined> {
    return this.decode(await this.cmd.xrange(keys.stream, id, id))[0];
  }

  async lastId(): Promise<string> {
    const [last] = await this.cmd.xrevrange(keys.stream, '+', '-', 'COUNT', 1);
    if (last) return last[0];
    const info = await this.streamInfo();
    return info?.lastGeneratedId ?? '0-0';
  }

  /**
   * Redis 7's XINFO STREAM names the last entry trimmed (max-deleted-entry-id): past the node's
   * position, purges it never read are gone. A stream that is missing altogether while the node
   * has read from it means Redis lost it (restarted without persistence): purges may be lost too.
   */
  async lostAfter(id: string): Promise<boolean> {
    const info = await this.streamInfo();
    if (!info) return id !== '0-0';
    return compareIds(info.maxDeletedId, id) > 0;
  }

  async ack(ack: PurgeAck): Promise<void> {
    const text = JSON.stringify(ack);
    await this.cmd
      .multi()
      .hset(keys.acks(ack.id), ack.node, text)
      .pexpire(keys.acks(ack.id), this.options.maxAgeMs)
      .publish(keys.ackChannel, text)
      .exec();
  }

  async acks(id: string): Promise<PurgeAck[]> {
    const all = await this.cmd.hgetall(keys.acks(id));
    return Object.values(all)
      .map((text) => decodeVersioned<PurgeAck>(text))
      .filter((a): a is PurgeAck => a !== undefined);
  }

  async expect(id: string, nodes: readonly string[]): Promise<void> {
    await this.cmd.set(keys.expect(id), JSON.stringify(nodes), 'PX', this.options.maxAgeMs);
  }

  async expected(id: string): Promise<string[] | undefined> {
    const text = await this.cmd.get(keys.expect(id));
    try {
      return text ? (JSON.parse(text) as string[]) : undefined;
    } catch {
      // Not written by this version: the purge's expected nodes are unknown.
      return undefined;
    }
  }

  async heartbeat(beat: Heartbeat): Promise<void> {
    const text = JSON.stringify(beat);
    await this.cmd
      .multi()
      .zadd(keys.nodes, beat.atMs + liveIntervals * beat.intervalMs, beat.node)
      .hset(keys.info, beat.node, text)
      .publish(keys.beat, text)
      .exec();
  }

  async liveNodes(nowMs: number): Promise<Heartbeat[]> {
    const ids = await this.cmd.zrangebyscore(keys.nodes, nowMs, '+inf');
    if (ids.length === 0) return [];
    const beats = await this.cmd.hmget(keys.info, ...ids);
    return beats.map((t) => decodeVersioned<Heartbeat>(t)).filter((b): b is Heartbeat => b !== undefined);
  }

  async leave(node: string): Promise<void> {
    await this.cmd.multi().zrem(keys.nodes, node).hdel(keys.info, node).exec();
  }

  private async streamInfo(): Promise<{ maxDeletedId: string; lastGeneratedId: string } | undefined> {
    let info: unknown[];
    try {
      info = (await this.cmd.xinfo('STREAM', keys.stream)) as unknown[];
    } catch (err) {
      if (/no such key/i.test((err as Error).message)) return undefined;
      throw err;
    }
    const field = (name: string) => {
      const i = info.indexOf(name);
      return i === -1 ? '0-0' : String(info[i + 1]);
    };
    return { maxDeletedId: field('max-deleted-entry-id'), lastGeneratedId: field('last-generated-id') };
  }

  private decode(entries: [string, string[]][]): PurgeMessage[] {
    const out: PurgeMessage[] = [];
    for (const [id, fields] of entries) {
      const m = decodePurge(id, fields[fields.indexOf('m') + 1] ?? '');
      if (m) out.push(m);
      else this.options.log.warn({ id }, 'purge log entry of an unknown version skipped');
    }
    return out;
  }

  private message(channel: string, text: string): void {
    if (channel === keys.announce) for (const l of this.listeners) l.announce?.(text);
    else if (channel === keys.ackChannel) {
      const ack = decodeVersioned<PurgeAck>(text);
      if (ack) for (const l of this.listeners) l.ack?.(ack);
    }
  }

  private setState(state: LogState, reason?: string): void {
    if (this.stopped) return;
    const changed = state !== this.state;
    this.state = state;
    this.reason = state === 'up' ? undefined : reason;
    if (!changed) return;
    if (state === 'up') this.options.log.info('purge bus: Redis connected');
    else this.options.log.warn({ err: reason }, 'purge bus: Redis unreachable, retrying');
    for (const l of this.listeners) l.state?.(state, reason);
  }
}

/** ioredis options for a URL or a Sentinel set. */
function connection(target: RedisTarget): RedisOptions {
  if (typeof target === 'string') {
    const url = new URL(target);
    return {
      host: url.hostname,
      port: Number(url.port || 6379),
      username: url.username || undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
      tls: url.protocol === 'rediss:' ? {} : undefined,
    };
  }
  return {
    sentinels: target.sentinels.map((s) => {
      const colon = s.lastIndexOf(':');
      return { host: s.slice(0, colon), port: Number(s.slice(colon + 1)) };
    }),
    name: target.name,
    password: target.password,
  };
}
