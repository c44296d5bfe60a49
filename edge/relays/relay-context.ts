// What a relay gets from the node that runs it: its logs, the access log and a clock.

import type { Logger } from '../../shared/log.js';

export interface RelayContext {
  /** The node's log: warnings and errors, once, where handled. */
  log: Logger;
  /** One line per TCP connection and per UDP session end (msg "relay"); absent: log.access is off. */
  accessLog: Logger | undefined;
  /** Wall clock in ms (health circuits, UDP idle expiry and rate limits); injectable for tests. */
  now: () => number;
}

/** The fields of a relay's access-log line (fixed names, like the HTTP access log's). */
export interface RelayLogLine {
  relay: string;
  protocol: 'tcp' | 'udp';
  /** The client's address and port (the one a trusted PROXY header named, if any). */
  client: string;
  /** The backend host:port, absent when none was reached. */
  backend?: string;
  bytesToBackend: number;
  bytesToClient: number;
  packetsToBackend?: number;
  packetsToClient?: number;
  ms: number;
  /** How it ended: closed, idle (UDP expiry), evicted, a RelayErrorCode, or refused. */
  end: string;
  /** Why it was refused (a RefusalReason), when end is "refused". */
  reason?: string;
}

/** `address:port` with brackets around an IPv6 address. */
export function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
