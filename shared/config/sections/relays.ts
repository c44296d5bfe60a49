// TCP and UDP relays (edge/relays/): listeners that pass non-HTTP traffic to backends.

import type { Problem } from '../schema.js';
import {
  duration,
  int,
  list,
  num,
  obj,
  oneOf,
  optional,
  refine,
  str,
  stringOr,
  withDefault,
  type Infer,
} from '../schema.js';
import { cidr, hostPort, name } from '../fields.js';

/** A backend: "host:port", or `{ address, weight }` to get a larger share of new connections. */
export const relayBackend = stringOr(
  hostPort,
  obj({ address: hostPort, weight: withDefault(int(1, 100), 1) }),
);

export type RelayBackendEntry = Infer<typeof relayBackend>;

/** The address and weight of a backend entry, whichever form it was written in. */
export function backendOf(entry: RelayBackendEntry): { address: string; weight: number } {
  return typeof entry === 'string' ? { address: entry, weight: 1 } : entry;
}

/** Health of the backends: passive (connect errors) and active probes; one circuit breaker each. */
const healthFields = {
  /** Consecutive failures (connects or probes) that take a backend out of service. */
  failures: withDefault(int(1, 1000), 2),
  /** How long a backend stays out before new connections try it again (half-open). */
  openFor: withDefault(duration(100), 10_000),
  /** How often each backend is probed; 0 turns active probes off. */
  interval: withDefault(duration(), 5_000),
  /** A probe not answered within this counts as failed. */
  timeout: withDefault(duration(10), 2_000),
};

const tcpHealth = obj(healthFields);

/** A UDP probe: a datagram sent to the backend and what its reply must contain. */
const udpProbe = obj({
  /** The probe datagram, in `encoding`. */
  send: str(),
  /** Bytes the reply must contain (in `encoding`); absent: any reply will do. */
  expect: optional(str()),
  encoding: withDefault(oneOf('utf8', 'hex'), 'utf8'),
});

/** Without a probe, a UDP backend's health is passive: ICMP port unreachable counts as a failure. */
const udpHealth = obj({ ...healthFields, probe: optional(udpProbe) });

/** The fields TCP and UDP relays share. */
const commonFields = {
  /** The relay's name, in metrics, logs and /readyz; unique per protocol. */
  name,
  /** host:port to listen on. */
  listen: hostPort,
  backends: list(relayBackend, { min: 1, what: 'host:port backends or { address, weight }' }),
  balance: withDefault(oneOf('round-robin', 'least-connections', 'hash-client-ip'), 'round-robin'),
  /** Client addresses accepted (empty: every address not denied). */
  allow: withDefault(list(cidr), []),
  /** Client addresses refused, checked before allow. */
  deny: withDefault(list(cidr), []),
};

export const tcpRelay = obj({
  ...commonFields,
  health: tcpHealth,
  /** Most open connections through the relay; more are closed at once. */
  maxConnections: withDefault(int(1, 1_000_000), 10_000),
  /** Most open connections per client address; more are closed at once. */
  maxPerClient: withDefault(int(1, 1_000_000), 100),
  /** Time to connect to one backend before the next is tried (also the PROXY header's deadline). */
  connectTimeout: withDefault(duration(1), 5_000),
  /** A connection with no bytes in either direction for this long is closed. */
  idleTimeout: withDefault(duration(1000), 300_000),
  /** PROXY protocol header sent to backends first, so they learn the client's address. */
  proxyProtocol: withDefault(oneOf('off', 'v1', 'v2'), 'off'),
  /**
   * Load balancers in front whose connections start with a PROXY protocol header (v1 or v2):
   * from these addresses the header is required and names the client; from others it is data.
   */
  acceptProxyFrom: withDefault(list(cidr), []),
});

export const udpRelay = obj({
  ...commonFields,
  health: udpHealth,
  /** Most sessions (client address and port) at once; a new one evicts the least recently used. */
  maxSessions: withDefault(int(1, 1_000_000), 10_000),
  /** Most sessions per client address; datagrams that would open more are dropped. */
  maxPerClient: withDefault(int(1, 1_000_000), 100),
  /** A session with no datagram in either direction for this long ends. */
  idleTimeout: withDefault(duration(1000), 30_000),
  /** Datagrams per second per client address (token bucket); 0 turns the limit off. */
  rateLimit: obj({
    packetsPerSecond: withDefault(int(0, 10_000_000), 1000),
    burst: withDefault(int(1, 10_000_000), 2000),
  }),
  /** Reply bytes allowed per request byte for clients that have not proven their address. */
  amplification: obj({
    /** 0 turns the cap off. */
    maxRatio: withDefault(num(0, 1000), 3),
    /** Client addresses taken as proven (no cap), e.g. an internal network. */
    trusted: withDefault(list(cidr), []),
  }),
});

export type TcpRelayConfig = Infer<typeof tcpRelay>;
export type UdpRelayConfig = Infer<typeof udpRelay>;

/** Names unique per protocol; listen addresses unique per protocol (port 0 aside). */
function distinct(
  relays: ({ name?: string; listen?: string } | undefined)[],
  path: string,
  problems: Problem[],
): void {
  const names = new Set<string>();
  const listens = new Set<string>();
  relays.forEach((r, i) => {
    if (r?.name !== undefined) {
      if (names.has(r.name))
        problems.push({ path: `${path}[${i}].name`, message: `relay ${r.name} is defined twice` });
      names.add(r.name);
    }
    if (r?.listen !== undefined && !r.listen.endsWith(':0')) {
      if (listens.has(r.listen))
        problems.push({ path: `${path}[${i}].listen`, message: `${r.listen} is used by another relay` });
      listens.add(r.listen);
    }
  });
}

export const relaysSection = obj({
  tcp: refine(withDefault(list(tcpRelay), []), (relays, path, problems) => {
    distinct(relays, path, problems);
    return relays;
  }),
  udp: refine(withDefault(list(udpRelay), []), (relays, path, problems) => {
    distinct(relays, path, problems);
    relays.forEach((r, i) => {
      const probe = r?.health?.probe;
      if (probe?.encoding === 'hex')
        for (const key of ['send', 'expect'] as const) {
          const value = probe[key];
          if (value !== undefined && !/^([0-9a-fA-F]{2})+$/.test(value))
            problems.push({ path: `${path}[${i}].health.probe.${key}`, message: 'expected hex bytes' });
        }
    });
    return relays;
  }),
});

export type RelaysConfig = Infer<typeof relaysSection>;
