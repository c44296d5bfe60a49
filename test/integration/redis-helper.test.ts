// The test Redis is a real server that ioredis talks to, and that can go away and come back
// (the purge bus and relay tests rely on both).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/redis.js';

test('startRedis runs a real redis-server that can be stopped and restarted on its port', async (t) => {
  const redis = await startRedis(t);
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  t.after(() => client.disconnect());
  assert.equal(await client.set('k', 'v'), 'OK');
  assert.equal(await client.get('k'), 'v');
  assert.match(await client.info('server'), /redis_version:\d+\.\d+/);
  await redis.stop(true);
  await redis.restart();
  // No persistence: the restarted server starts empty, and the client reconnects by itself.
  assert.equal(await client.get('k'), null);
});
