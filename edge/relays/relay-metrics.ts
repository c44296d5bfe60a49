// Prometheus metrics of a node's relays, read from each relay's stats() when /metrics is
// scraped: the relays count in plain numbers as they work and never touch prom-client.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Relay, RelayStats } from './relay.js';

type Labels = Record<string, string>;

/** A counter whose samples are the relays' totals, set on every scrape. */
function totals(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  samples: () => [Labels, number][],
): void {
  new Counter({
    name,
    help,
    labelNames: ['protocol', 'relay', ...labelNames],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of samples()) this.inc(labels, value);
    },
  });
}

export function registerRelayMetrics(registry: Registry, relays: readonly Relay[]): void {
  const each = (fn: (base: Labels, s: RelayStats) => [Labels, number][], only?: Relay['protocol']) => () =>
    relays
      .filter((r) => only === undefined || r.protocol === only)
      .flatMap((r) => fn({ protocol: r.protocol, relay: r.relayName }, r.stats()));
  const byKey = (record: Record<string, number>, label: string, base: Labels): [Labels, number][] =>
    Object.entries(record).map(([k, v]) => [{ ...base, [label]: k }, v]);

  new Gauge({
    name: 'strata_relay_active',
    help: 'Open relay connections (tcp) or sessions (udp).',
    labelNames: ['protocol', 'relay'],
    registers: [registry],
    collect() {
      for (const r of relays) this.set({ protocol: r.protocol, relay: r.relayName }, r.stats().active);
    },
  });
  new Gauge({
    name: 'strata_relay_backend_usable',
    help: 'Whether new relay connections or sessions may go to a backend (1) or it is out of service (0).',
    labelNames: ['protocol', 'relay', 'backend'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of relays)
        for (const b of r.stats().backends)
          this.set({ protocol: r.protocol, relay: r.relayName, backend: b.address }, b.usable ? 1 : 0);
    },
  });
  totals(
    registry,
    'strata_relay_accepted_total',
    'Relay connections (tcp) or sessions (udp) accepted.',
    [],
    each((base, s) => [[base, s.accepted]]),
  );
  totals(
    registry,
    'strata_relay_bytes_total',
    'Bytes relayed, by direction (to_backend: from clients; to_client: from backends).',
    ['direction'],
    each((base, s) => [
      [{ ...base, direction: 'to_backend' }, s.bytesToBackend],
      [{ ...base, direction: 'to_client' }, s.bytesToClient],
    ]),
  );
  totals(
    registry,
    'strata_relay_packets_total',
    'Datagrams relayed by udp relays, by direction.',
    ['direction'],
    each(
      (base, s) => [
        [{ ...base, direction: 'to_backend' }, s.packetsToBackend],
        [{ ...base, direction: 'to_client' }, s.packetsToClient],
      ],
      'udp',
    ),
  );
  totals(
    registry,
    'strata_relay_refused_total',
    'Relay connections (tcp) or new sessions (udp) refused, by reason.',
    ['reason'],
    each((base, s) => byKey(s.refused, 'reason', base)),
  );
  totals(
    registry,
    'strata_relay_dropped_packets_total',
    'Datagrams a udp relay dropped, by reason.',
    ['reason'],
    each((base, s) => byKey(s.dropped, 'reason', base), 'udp'),
  );
  totals(
    registry,
    'strata_relay_errors_total',
    'Relay failures, by code (a failed connect to one backend counts even when the next one worked).',
    ['code'],
    each((base, s) => byKey(s.errors, 'code', base)),
  );
  totals(
    registry,
    'strata_relay_evicted_sessions_total',
    'UDP sessions ended to make room for a new one (maxSessions).',
    [],
    each((base, s) => [[base, s.evicted]], 'udp'),
  );
}
