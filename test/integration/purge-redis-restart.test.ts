// redis-server restarted in the middle of a stream of 1,000 purges (an append-only file, as a
// Redis that must keep accepted purges runs): afterwards every node has applied every purge
// the API accepted. Purges refused while Redis was down (503) are sent again, as a client would.

import test from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { ManualClock, metric, startNode } from '../helpers/edge.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { postPurge, testToken } from '../helpers/purge.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';
import { shieldRole } from '../../shield/shield-role.js';

test('redis-server restarted during 1,000 purges: every node applied every accepted purge (0 lost)', async (t) => {
  const redis = await startRedis(t, { persist: true });
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600' }));
  const clock = new ManualClock();
  const site = { hosts: ['*'], origins: [origin.url] };
  const purge = {
    redis: redis.url,
    token: testToken,
    heartbeat: '100ms',
    api: { ratePerSec: 100_000, burst: 100_000 },
  };
  const shield = await startNode(
    t,
    { node: { id: 'shield-1' }, sites: [site], purge },
    { role: shieldRole, clock },
  );
  const edges = await Promise.all(
    [1, 2].map((i) =>
      startNode(
        t,
        { node: { id: `edge-${i}` }, sites: [site], shields: [{ url: shield.url }], purge },
        { clock },
      ),
    ),
  );
  const nodes = [shield, ...edges];
  const accepted: string[] = [];
  let refused = 0;
  for (let i = 0; i < 1000; i++) {
    if (i === 500) {
      await redis.stop(true);
      // Sent while Redis is down: refused, never accepted and lost.
      const down = await postPurge(edges[0].adminUrl, { tags: ['while-down'] }).catch(() => undefined);
      assert.notEqual(down?.status, 202);
      await redis.restart();
    }
    for (;;) {
      // Each purge through the next node's API in turn.
      const answer = await postPurge(nodes[i % 3].adminUrl, { tags: [`tag-${i}`] }).catch(() => undefined);
      if (answer?.status === 202) {
        accepted.push(String(answer.body.id));
        break;
      }
      refused++;
      assert.equal(answer?.status ?? 503, 503, JSON.stringify(answer?.body));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  assert.equal(accepted.length, 1000);
  const last = accepted.at(-1)!;
  for (const node of nodes) await until(async () => node.node.purge!.agent!.applied === last, 30_000);
  for (const node of nodes) {
    const m = await node.metrics();
    assert.equal(metric(m, 'strata_purges_applied_total{mode="hard"}'), 1000, node.node.config.node.id);
    assert.equal(metric(m, 'strata_purge_catchups_total{reason="lost"}'), 0);
  }
  // Every accepted purge has an acknowledgement from each of the three nodes.
  let missing = 0;
  for (const id of accepted) {
    const res = await request(`${edges[1].adminUrl}/purge/${id}`);
    const body = (await res.body.json()) as { results: { node: string; applied: boolean }[] };
    const applied = new Set(body.results.filter((r) => r.applied).map((r) => r.node));
    for (const n of ['edge-1', 'edge-2', 'shield-1']) if (!applied.has(n)) missing++;
  }
  assert.equal(missing, 0);
  t.diagnostic(`refused while Redis restarted: ${refused}`);
});
