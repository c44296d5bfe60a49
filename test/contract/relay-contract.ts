// The Relay contract: cases every relay (TCP, UDP) must pass, run from test/contract/*-relay.test.ts
// with an adapter per protocol. Each case uses real backends and real clients on loopback and
// asserts the relay's own counters as well as what the clients got.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { RefusalReason } from '../../edge/relays/relay.js';
import { metricSum } from '../helpers/metrics.js';
import { startRelays, type TestBackend, type TestRelays } from '../helpers/relay.js';
import { until } from '../helpers/wait.js';

/** A client that stays connected (TCP) or keeps its address and port, so its session (UDP). */
export interface HeldClient {
  ask(text: string): Promise<string>;
  /** Ends the client (TCP: closes the connection; UDP: closes its socket, the session lives on). */
  close(): Promise<void>;
}

export interface RelayAdapter {
  protocol: 'tcp' | 'udp';
  /** A backend answering "X" with "NAME:X". */
  backend(t: TestContext, name: string): Promise<TestBackend>;
  /** A new client: connects (TCP) or opens a socket (UDP). */
  client(t: TestContext, port: number): Promise<HeldClient>;
  /**
   * A new client sends "text" and is not served: resolves once that is certain. TCP: the
   * connection is closed (or refused) without a byte; UDP: `counted()` turns true (a datagram
   * that got no answer has no end of its own to wait for).
   */
  notServed(t: TestContext, port: number, text: string, counted: () => boolean): Promise<void>;
  /** The limit at maxConnections (TCP) or maxSessions (UDP): refuse the newcomer, or evict the oldest. */
  atCapacity: 'refuse' | 'evict';
  /** The config key of the total limit. */
  totalLimitKey: 'maxConnections' | 'maxSessions';
  /** Whether a drain ends when the clients close (TCP) or only at the deadline or idle expiry (UDP). */
  drainEnds: 'when-clients-close' | 'at-deadline';
}

export function relayContract(adapter: RelayAdapter): void {
  const p = adapter.protocol;
  const start = (t: TestContext, backends: TestBackend[], extra: Record<string, unknown> = {}) =>
    startRelays(t, {
      [p]: [
        {
          name: 'r',
          listen: '127.0.0.1:0',
          backends: backends.map((b) => b.address),
          health: { interval: 0, failures: 1 },
          ...extra,
        },
      ],
    });
  const refusedAs = async (t: TestContext, r: TestRelays, reason: RefusalReason, text: string) => {
    const before = r.relay.stats().refused[reason];
    await adapter.notServed(t, r.port, text, () => r.relay.stats().refused[reason] > before);
    await until(() => r.relay.stats().refused[reason] === before + 1);
  };

  test(`${p} relay: a request reaches the backend and its reply the client; counters and the access log say so`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const r = await start(t, [a]);
    const client = await adapter.client(t, r.port);
    assert.equal(await client.ask('ping'), 'a:ping');
    assert.equal(await client.ask('again'), 'a:again');
    assert.equal(a.requests, 2);
    const s = r.relay.stats();
    assert.equal(s.accepted, 1);
    assert.equal(s.active, 1);
    // TCP counts the line ends too; UDP counts datagram payloads.
    const newline = p === 'tcp' ? 1 : 0;
    assert.equal(s.bytesToBackend, 'ping'.length + 'again'.length + 2 * newline);
    assert.equal(s.bytesToClient, 'a:ping'.length + 'a:again'.length + 2 * newline);
    const m = await r.registry.metrics();
    assert.equal(metricSum(m, 'strata_relay_active', { protocol: p, relay: 'r' }), 1);
    assert.equal(metricSum(m, 'strata_relay_bytes_total', { direction: 'to_client' }), s.bytesToClient);
    await client.close();
    await r.stop(Date.now() + 200);
    const line = r.lines.find((l) => l.msg === 'relay');
    assert.ok(line, 'an access-log line when the connection or session ends');
    assert.equal(line.relay, 'r');
    assert.equal(line.protocol, p);
    assert.equal(line.backend, a.address);
    assert.equal(line.bytesToClient, s.bytesToClient);
    assert.match(String(line.client), /^127\.0\.0\.1:\d+$/);
  });

  test(`${p} relay: round-robin spreads new clients over the backends; hash-client-ip keeps one address on one`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const b = await adapter.backend(t, 'b');
    const rr = await start(t, [a, b]);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await (await adapter.client(t, rr.port)).ask(`q${i}`));
    assert.deepEqual(answers.map((x) => x[0]).sort(), ['a', 'a', 'b', 'b']);
    const hashed = await start(t, [a, b], { balance: 'hash-client-ip' });
    const owners = new Set<string>();
    for (let i = 0; i < 4; i++) owners.add((await (await adapter.client(t, hashed.port)).ask('h'))[0]);
    assert.equal(owners.size, 1, 'every client of 127.0.0.1 went to one backend');
  });

  test(`${p} relay: a backend that went away gets no new clients: they go to the other`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const b = await adapter.backend(t, 'b');
    const r = await start(t, [a, b]);
    await a.stop();
    for (let i = 0; i < 4; i++) assert.equal(await (await adapter.client(t, r.port)).ask(`q${i}`), `b:q${i}`);
    const s = r.relay.stats();
    assert.ok(s.errors['connect-failed'] >= 1, 'the failed backend was counted');
    assert.deepEqual(
      s.backends.map((x) => [x.address, x.usable]),
      [
        [a.address, false],
        [b.address, true],
      ],
    );
    assert.equal(b.requests, 4);
  });

  test(`${p} relay: no backend reachable: the client is not served, counted as no-backend`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const r = await start(t, [a]);
    await a.stop();
    await refusedAs(t, r, 'no-backend', 'lost');
  });

  test(`${p} relay: maxPerClient: one address's extra client is refused and counted`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const r = await start(t, [a], { maxPerClient: 1 });
    const first = await adapter.client(t, r.port);
    assert.equal(await first.ask('one'), 'a:one');
    await refusedAs(t, r, 'max-per-client', 'two');
    assert.equal(await first.ask('still'), 'a:still');
    assert.equal(a.requests, 2, 'the refused client reached no backend');
  });

  test(`${p} relay: at the total limit the newcomer is ${adapter.atCapacity === 'refuse' ? 'refused' : 'served and the least recently used evicted'}`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const r = await start(t, [a], { [adapter.totalLimitKey]: 1 });
    const first = await adapter.client(t, r.port);
    assert.equal(await first.ask('one'), 'a:one');
    if (adapter.atCapacity === 'refuse') {
      await refusedAs(t, r, 'max-connections', 'two');
      assert.equal(r.relay.stats().active, 1);
    } else {
      assert.equal(await (await adapter.client(t, r.port)).ask('two'), 'a:two');
      assert.equal(r.relay.stats().evicted, 1);
      assert.equal(r.relay.stats().active, 1);
      assert.equal(r.lines.find((l) => l.end === 'evicted')?.bytesToBackend, 'one'.length);
    }
  });

  test(`${p} relay: deny refuses an address, and a non-empty allow refuses the others`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const denied = await start(t, [a], { deny: ['127.0.0.0/8'] });
    await refusedAs(t, denied, 'denied', 'no');
    const notAllowed = await start(t, [a], { allow: ['10.0.0.0/8', '::1'] });
    await refusedAs(t, notAllowed, 'denied', 'no');
    const allowed = await start(t, [a], { allow: ['127.0.0.1'], deny: ['10.0.0.0/8'] });
    assert.equal(await (await adapter.client(t, allowed.port)).ask('yes'), 'a:yes');
    assert.equal(a.requests, 1);
  });

  test(`${p} relay: on stop, new clients are not served while open ones still are, until they end or the deadline`, async (t) => {
    const a = await adapter.backend(t, 'a');
    const r = await start(t, [a]);
    const held = await adapter.client(t, r.port);
    assert.equal(await held.ask('before'), 'a:before');
    const far = adapter.drainEnds === 'when-clients-close';
    let stopped = false;
    // UDP: long enough for the exchange below on a loaded machine; the stop then waits for it.
    const stopping = r.stop(far ? Date.now() + 60_000 : Date.now() + 2000).then(() => (stopped = true));
    await until(() => !r.relay.stats().listening);
    await adapter.notServed(t, r.port, 'late', () => r.relay.stats().refused.draining > 0);
    assert.equal(await held.ask('during'), 'a:during');
    assert.equal(stopped, false);
    await held.close();
    await stopping;
    assert.equal(r.relay.stats().active, 0);
    assert.equal(r.relay.stats().errors['drain-deadline'], far ? 0 : 1);
  });
}
