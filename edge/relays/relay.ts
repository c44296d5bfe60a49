// The Relay interface: a listener that passes a protocol's traffic to backends (TcpRelay,
// UdpRelay). Both are services (start listening, stop with a drain) and report plain-number
// stats that the metrics and /readyz read; both pass test/contract/relay-contract.ts.

import type { Service } from '../../shared/service.js';

export type RelayProtocol = 'tcp' | 'udp';

/**
 * Why a connection (TCP) or a new session (UDP) was refused:
 * - max-connections: the relay's maxConnections is reached (TCP; UDP evicts instead)
 * - max-per-client: the client address has maxPerClient open
 * - denied: the client address is in deny, or not in a non-empty allow
 * - no-backend: no backend could be connected to (TCP) or opened (UDP)
 * - proxy-header: a trusted load balancer's connection had no valid PROXY header in time
 * - draining: the relay is stopping
 */
export type RefusalReason =
  'max-connections' | 'max-per-client' | 'denied' | 'no-backend' | 'proxy-header' | 'draining';

export const refusalReasons: readonly RefusalReason[] = [
  'max-connections',
  'max-per-client',
  'denied',
  'no-backend',
  'proxy-header',
  'draining',
];

/**
 * Why a datagram was dropped (UDP):
 * - rate-limit: the client address is over rateLimit
 * - amplification: a reply would take an unproven client past amplification.maxRatio
 * - refused: it would have opened a session that was refused (see RefusalReason)
 * - send-failed: the socket could not send it (backend unreachable, buffer full)
 */
export type DropReason = 'rate-limit' | 'amplification' | 'refused' | 'send-failed';

export const dropReasons: readonly DropReason[] = ['rate-limit', 'amplification', 'refused', 'send-failed'];

/**
 * Failures while relaying:
 * - connect-failed / connect-timeout: one backend could not be reached (the next is tried)
 * - backend-reset / client-reset: a side closed with an error mid-connection
 * - idle-timeout: nothing moved for idleTimeout (TCP; UDP sessions simply expire)
 * - drain-deadline: still open when the drain deadline came
 */
export type RelayErrorCode =
  'connect-failed' | 'connect-timeout' | 'backend-reset' | 'client-reset' | 'idle-timeout' | 'drain-deadline';

export const relayErrorCodes: readonly RelayErrorCode[] = [
  'connect-failed',
  'connect-timeout',
  'backend-reset',
  'client-reset',
  'idle-timeout',
  'drain-deadline',
];

export interface BackendStats {
  address: string;
  /** Whether new connections or sessions may go to it (its circuit is closed or half-open). */
  usable: boolean;
  /** Connections or sessions open to it now. */
  active: number;
}

/** Counters only grow; the relay adds to them as it works and the metrics read them on scrape. */
export interface RelayStats {
  /** Whether the relay listens (between start and stop). */
  listening: boolean;
  /** Open connections (TCP) or sessions (UDP). */
  active: number;
  /** Connections or sessions relayed since start. */
  accepted: number;
  bytesToBackend: number;
  bytesToClient: number;
  /** Datagrams (UDP; TCP counts none). */
  packetsToBackend: number;
  packetsToClient: number;
  refused: Record<RefusalReason, number>;
  dropped: Record<DropReason, number>;
  errors: Record<RelayErrorCode, number>;
  /** Sessions ended to make room for a new one (UDP maxSessions). */
  evicted: number;
  backends: BackendStats[];
}

export interface Relay extends Service {
  readonly protocol: RelayProtocol;
  /** The relay's configured name. */
  readonly relayName: string;
  /** The bound port (after start; the configured one with port 0 resolved). */
  readonly port: number;
  stats(): RelayStats;
}

/** Fresh counters for a relay. */
export function emptyStats(): RelayStats {
  const zero = <K extends string>(keys: readonly K[]) =>
    Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  return {
    listening: false,
    active: 0,
    accepted: 0,
    bytesToBackend: 0,
    bytesToClient: 0,
    packetsToBackend: 0,
    packetsToClient: 0,
    refused: zero(refusalReasons),
    dropped: zero(dropReasons),
    errors: zero(relayErrorCodes),
    evicted: 0,
    backends: [],
  };
}
