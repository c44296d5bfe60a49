// ProbeHealth: edges are healthy while their probe URL answers 2xx; one GET per URL per round.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ProbeHealth } from '../../../../edge/geo/edge-health.js';
import { startOrigin } from '../../../helpers/origin.js';
import { until } from '../../../helpers/wait.js';

test('edges sharing a probe URL are probed once a round; a failing probe takes them out, a passing one back', async (t) => {
  let status = 200;
  const lb = await startOrigin(t, (_req, res) => res.writeHead(status).end());
  const alone = await startOrigin(t);
  const shared = `${lb.url}/health`;
  const edges = [
    { address: '192.0.2.1', region: 'eu', probe: shared },
    { address: '192.0.2.2', region: 'eu', probe: shared },
    { address: '192.0.2.3', region: 'eu', probe: `${alone.url}/health` },
  ];
  const health = new ProbeHealth(edges, { intervalMs: 100, timeoutMs: 1000, log: pino({ level: 'silent' }) });
  const changes: string[] = [];
  health.onChange((edge, up) => changes.push(`${edge.address} ${up ? 'up' : 'down'}`));
  await health.start();
  t.after(() => health.stop());
  // The first round is done when start() resolves: one request per URL.
  assert.equal(lb.requests.length, 1);
  assert.equal(alone.requests.length, 1);
  assert.deepEqual(
    edges.map((e) => health.healthy(e.address)),
    [true, true, true],
  );
  assert.equal(health.healthy('198.51.100.1'), false, 'an address no edge has');
  status = 503;
  await until(() => !health.healthy('192.0.2.1'));
  assert.equal(health.healthy('192.0.2.2'), false);
  assert.equal(health.healthy('192.0.2.3'), true);
  status = 204;
  await until(() => health.healthy('192.0.2.1'));
  assert.deepEqual(changes.slice(3), ['192.0.2.1 down', '192.0.2.2 down', '192.0.2.1 up', '192.0.2.2 up']);
  await lb.close();
  await until(() => !health.healthy('192.0.2.2'));
});
