// Per-request state carried through the pipeline phases.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Outcome } from '../cache/outcome.js';
import type { RequestDirectives } from '../cache/policy.js';
import type { Site } from './router.js';

/** The listener a request came in on: its name and scheme travel with the request. */
export interface ListenerInfo {
  /** e.g. 'http'; names the listener in logs. */
  readonly name: string;
  /** The scheme clients used: part of the cache key and of the forwarding fields. */
  readonly scheme: 'http' | 'https';
  /**
   * A sibling worker's fill of a key this worker owns (shared/cluster/siblings.ts): the client's
   * request as that worker would send it upstream, after its checks, answered with every field.
   */
  readonly hop?: boolean;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly listener: ListenerInfo;
  /** listener.scheme, at hand for the cache key. */
  readonly scheme: 'http' | 'https';
  readonly id: string;
  readonly startMs: number;
  /** Method as sent by the client. */
  readonly method: string;
  site: Site;
  /** Host as the client sent it (Host header or absolute-form authority). */
  host: string;
  /** origin-form target: path and query. */
  target: string;
  /** Primary cache key. */
  key: string;
  reqCc: RequestDirectives;
  outcome: Outcome;
  upstreamMs?: number;
  /** Body bytes written to the client. */
  bytes: number;
  /**
   * Header fields (flat name, value list) every response to this request carries besides its
   * own, such as a site's Strict-Transport-Security on HTTPS (https-policy.ts); usually none.
   */
  addFields: readonly string[] | undefined;
  /**
   * Runs when the response closes (done or the client gone), before the request is accounted
   * for: a phase's cleanup rides on the pipeline's one 'close' listener instead of adding its own.
   */
  onClose?: () => void;
}
