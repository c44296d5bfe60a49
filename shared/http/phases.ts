// The pipeline's phases and what they decide (as Varnish's subroutines each end by naming the
// next action). Later capabilities plug in as request filters (auth, rate limits, geo rules);
// WebSocket upgrades are the `pipe` decision; a Varnish-style PURGE request is `purge`.

import type { StrataError } from '../errors.js';
import type { Forward } from '../cache/outcome.js';
import type { RequestContext } from './context.js';

/**
 * What a phase decided to do next: look the request up in the cache, pass it upstream as it
 * is, pipe it (a WebSocket upgrade: a tunnel to the origin, never cached), answer it with an
 * error, or answer it with a response made here (synth; `fields` adds header fields, such as
 * a redirect's Location).
 */
export type Decision =
  | { action: 'lookup' }
  | { action: 'pass'; fwd: Forward }
  | { action: 'pipe' }
  | { action: 'respond'; error: StrataError }
  | { action: 'synth'; status: number; body: string; probe?: true; fields?: Record<string, string> }
  /** A Varnish-style PURGE of one URL (purge/purge-method.ts): sent to the purge bus, answered when accepted. */
  | { action: 'purge'; url: string };

/**
 * A check every routed request goes through before recv, in the order filters are given:
 * the first that returns a decision ends the chain (say, `respond` with a 401 or 403); undefined
 * lets the request go on. Runs synchronously on the hit path: no I/O, no allocation it can avoid.
 */
export interface RequestFilter {
  readonly name: string;
  onRequest(ctx: RequestContext): Decision | undefined;
}

// Decisions without data are shared constants: the hit path allocates none.
export const lookupDecision: Decision = { action: 'lookup' };
export const passMethod: Decision = { action: 'pass', fwd: 'method' };
export const passBypass: Decision = { action: 'pass', fwd: 'bypass' };
export const pipeDecision: Decision = { action: 'pipe' };
export const healthy: Decision = { action: 'synth', status: 200, body: 'ok\n', probe: true };
export const unhealthy: Decision = { action: 'synth', status: 503, body: 'not ready\n', probe: true };
