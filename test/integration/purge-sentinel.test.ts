// The purge bus over a Sentinel set: a primary, a replica and a sentinel (redis-server
// --sentinel). With purge.replicas: 1 a purge is accepted once the replica has it; the primary
// is then killed, the sentinel promotes the replica, and the node (which asks the sentinel
// where the primary is) refuses purges meanwhile, reconnects to the new primary, finds every
// purge accepted before the failover still in the log, and accepts new ones once the new
// primary has a replica again (the old primary, back).

import test from 'node:test';
import assert from 'node:assert/strict';
import { metric, startEdge } from '../helpers/edge.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { postPurge, testToken } from '../helpers/purge.js';
import { startRedis, startSentinel } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

test('a Sentinel failover only pauses purges; purges accepted with purge.replicas: 1 survive it', async (t) => {
  const primary = await startRedis(t);
  const replica = await startRedis(t, { args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  const sentinel = await startSentinel(t, 'strata', primary.port);
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600', 'surrogate-key': 'p' }));
  const edge = await startEdge(t, origin.url, {
    purge: {
      redis: { sentinels: [`127.0.0.1:${sentinel.port}`], name: 'strata' },
      token: testToken,
      heartbeat: '100ms',
      replicas: 1,
      replicaTimeout: '2s',
    },
  });
  await until(async () => (await postPurge(edge.adminUrl, { tags: ['warm'] })).status === 202, 20_000);
  const before = await postPurge(edge.adminUrl, { tags: ['before'] }, { wait: '5s' });
  assert.equal(before.status, 200, JSON.stringify(before.body));
  await primary.stop(true);
  // Purges pause: refused (503) while the primary is gone; once the sentinel has promoted the
  // replica, it has no replica of its own, so purges are still refused as not durable.
  const refused = await postPurge(edge.adminUrl, { tags: ['during'] });
  assert.equal(refused.status, 503);
  await until(
    async () =>
      String((await postPurge(edge.adminUrl, { tags: ['during'] })).body.error) === 'PURGE_NOT_DURABLE',
    30_000,
  );
  // The old primary comes back; the sentinel makes it a replica of the new primary: purges resume.
  await primary.restart();
  await until(
    async () => (await postPurge(edge.adminUrl, { tags: ['after'] }, { wait: '5s' })).status === 200,
    30_000,
  );
  // The purge accepted before the failover is in the new primary's log: GET /purge/{id} finds it.
  const { request } = await import('undici');
  const res = await request(`${edge.adminUrl}/purge/${String(before.body.id)}`);
  assert.equal(res.statusCode, 200);
  const report = (await res.body.json()) as { purge: { tags: string[] } };
  assert.deepEqual(report.purge.tags, ['before']);
  assert.equal(metric(await edge.metrics(), 'strata_purge_catchups_total{reason="lost"}'), 0);
  assert.ok(replica.port > 0);
});
