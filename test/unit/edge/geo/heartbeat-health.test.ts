// HeartbeatHealth over the in-process log, with a hand-moved clock and mocked timers: which
// heartbeats count (role edge, fresh within one interval and the grace), and a writer whose
// clock is behind the reader's. The Redis path is tested in integration/geodns-heartbeats.test.ts.

import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HeartbeatHealth, heartbeatGraceMs } from '../../../../edge/geo/heartbeat-health.js';
import { HeartbeatMetrics } from '../../../../edge/geo/dns-metrics.js';
import { MemoryLog } from '../../../../shared/purge/memory-log.js';
import type { Heartbeat, NodeKind } from '../../../../shared/purge/message.js';

const intervalMs = 1000;
const edges = ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((address) => ({
  address,
  region: 'eu',
  probe: 'http://unused/',
}));

function beat(node: string, role: NodeKind, addresses: string[], atMs: number): Heartbeat {
  return {
    v: 1,
    node,
    role,
    region: 'eu',
    version: 'test',
    http: '127.0.0.1:8080',
    admin: '127.0.0.1:9090',
    addresses,
    startedMs: 0,
    atMs,
    intervalMs,
    appliedId: '0-0',
    workers: 1,
  };
}

async function setup(t: import('node:test').TestContext) {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  let nowMs = 1_000_000;
  const log = new MemoryLog(60_000);
  const health = new HeartbeatHealth(edges, {
    log,
    intervalMs,
    logger: pino({ level: 'silent' }),
    metrics: new HeartbeatMetrics(new Registry()),
    clock: () => nowMs,
  });
  const up = () => edges.filter((e) => health.healthy(e.address)).map((e) => e.address);
  /** Moves the clock and the timers by `ms`, one read (a quarter interval) at a time. */
  const advance = async (ms: number) => {
    for (let left = ms; left > 0; left -= intervalMs / 4) {
      nowMs += intervalMs / 4;
      mock.timers.tick(intervalMs / 4);
      // The read's promises settle on later turns (setImmediate is not mocked).
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { log, health, up, advance, now: () => nowMs };
}

test('an edge is healthy while a fresh heartbeat of a node with role edge advertises its address', async (t) => {
  const { log, health, up, advance, now } = await setup(t);
  await log.heartbeat(beat('edge-1', 'edge', ['192.0.2.1', '2001:db8::1'], now()));
  await log.heartbeat(beat('shield-1', 'shield', ['192.0.2.2'], now()));
  // Within the bus's three intervals, but older than one interval and the grace: not fresh.
  await log.heartbeat(
    beat('edge-3', 'edge', ['192.0.2.3'], now() - intervalMs - heartbeatGraceMs(intervalMs) - 1),
  );
  await health.start();
  t.after(() => health.stop());
  assert.deepEqual(up(), ['192.0.2.1']);
  // No further heartbeat: edge-1 leaves once its last one is an interval and the grace old.
  await advance(intervalMs);
  assert.deepEqual(up(), ['192.0.2.1']);
  await advance(intervalMs / 2);
  assert.deepEqual(up(), []);
  // A node that stops cleanly removes its heartbeat: gone at the next read.
  await log.heartbeat(beat('edge-1', 'edge', ['192.0.2.1'], now()));
  await advance(intervalMs / 4);
  assert.deepEqual(up(), ['192.0.2.1']);
  await log.leave('edge-1');
  await advance(intervalMs / 4);
  assert.deepEqual(up(), []);
});

test("a writer whose clock is behind the reader's counts from when its heartbeat appeared", async (t) => {
  const { log, health, up, advance, now } = await setup(t);
  const behindMs = 1500;
  await health.start();
  t.after(() => health.stop());
  // Its atMs says 1.5 s ago (older than an interval and the grace), but each one is new.
  for (let i = 0; i < 4; i++) {
    await log.heartbeat(beat('edge-2', 'edge', ['192.0.2.2'], now() - behindMs));
    await advance(intervalMs / 4);
    assert.deepEqual(up(), ['192.0.2.2'], `after heartbeat ${i}`);
    await advance((3 * intervalMs) / 4);
  }
  // It stops: it leaves an interval and the grace after the read before the last one appeared.
  await advance(intervalMs);
  assert.deepEqual(up(), []);
});
