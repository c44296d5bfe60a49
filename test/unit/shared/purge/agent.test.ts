// The purge agent's acknowledgements: one that could not be sent while the bus was away is sent
// when the agent next reads the log, so the purge's status ends complete (the node did apply it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { PurgeAgent, memoryPosition } from '../../../../shared/purge/agent.js';
import { MemoryLog } from '../../../../shared/purge/memory-log.js';
import { PurgeMetrics } from '../../../../shared/purge/metrics.js';
import type { PurgeAck } from '../../../../shared/purge/message.js';

/** The in-process log, whose acknowledgements fail while `down`, as Redis's would. */
class AckLossLog extends MemoryLog {
  down = false;

  override ack(ack: PurgeAck): Promise<void> {
    return this.down ? Promise.reject(new Error('connect ECONNREFUSED')) : super.ack(ack);
  }
}

test('an acknowledgement that failed is sent again at the next read of the log', async () => {
  const log = new AckLossLog(60_000);
  let applied = 0;
  const agent = new PurgeAgent({
    node: 'edge-1',
    log,
    target: { apply: () => Promise.resolve({ objects: ++applied }) },
    position: memoryPosition(),
    heartbeatMs: 60_000,
    describe: () => ({
      node: 'edge-1',
      role: 'edge',
      region: '',
      version: 'test',
      http: '127.0.0.1:8080',
      admin: '127.0.0.1:9090',
      addresses: ['127.0.0.1'],
      startedMs: 0,
      workers: 1,
    }),
    logger: pino({ level: 'silent' }),
    metrics: new PurgeMetrics(new Registry()),
  });
  await agent.drain(); // positioned at the log's end
  const spec = { urls: ['http://a.test/x'], prefixes: [], hosts: [], tags: [], all: false, soft: false };
  const purge = await log.append(spec, Date.now());
  log.down = true;
  await agent.drain();
  assert.equal(applied, 1, 'applied while the acknowledgement could not go');
  assert.deepEqual(await log.acks(purge.id), []);
  log.down = false;
  await agent.drain();
  const acks = await log.acks(purge.id);
  assert.equal(acks.length, 1);
  assert.equal(acks[0].node, 'edge-1');
  assert.equal(applied, 1, 'not applied twice');
});
