// PeerHealth: the health of one upstream peer (origin or shield), a circuit breaker fed by
// passive observations (each request's outcome) and active probes.

import type { StrataError } from '../errors.js';

export interface HealthRules {
  /** Consecutive failures that open the circuit (upstream.health.failures). */
  failures: number;
  /** How long an open circuit keeps the peer out before requests try it again (openFor). */
  openMs: number;
}

/**
 * Failures that say the peer itself is unwell: it could not be reached, did not answer in
 * time, or broke the protocol. UPSTREAM_BUSY is this node's own pool queue, not the peer.
 */
const peerFaults: ReadonlySet<StrataError['code']> = new Set([
  'UPSTREAM_CONNECT_FAILED',
  'UPSTREAM_CONNECT_TIMEOUT',
  'UPSTREAM_TLS',
  'UPSTREAM_HEADERS_TIMEOUT',
  'UPSTREAM_RESET',
  'UPSTREAM_PROTOCOL',
]);

/** Whether a failed request counts against the peer's health. */
export function isPeerFault(err: StrataError): boolean {
  return peerFaults.has(err.code);
}

/**
 * Closed (usable) until `failures` consecutive failures; then open (skipped) for `openMs`;
 * then half-open: requests try the peer again, the first success closes the circuit and a
 * failure opens it for another `openMs`. A failed active probe keeps the peer out until a
 * probe succeeds.
 */
export class PeerHealth {
  private failuresInRow = 0;
  private openUntilMs = 0;
  private probeDown = false;

  constructor(private readonly rules: HealthRules) {}

  /** Whether requests should go to the peer at `nowMs` (closed or half-open, and not probed down). */
  usable(nowMs: number): boolean {
    return !this.probeDown && nowMs >= this.openUntilMs;
  }

  /** A request got an answer from the peer. */
  succeeded(): void {
    this.failuresInRow = 0;
    this.openUntilMs = 0;
  }

  /** A request failed in a way that is the peer's fault (see isPeerFault). */
  failed(nowMs: number): void {
    this.failuresInRow++;
    if (this.failuresInRow >= this.rules.failures) this.openUntilMs = nowMs + this.rules.openMs;
  }

  /** The result of an active probe: a failed one takes the peer out, a good one brings it back. */
  probed(ok: boolean): void {
    this.probeDown = !ok;
    if (ok) this.succeeded();
  }
}
