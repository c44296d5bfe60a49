// The relay contract, run against the UDP relay: a client per socket, so a session each.

import type { TestContext } from 'node:test';
import { datagramBackend, datagramClient } from '../helpers/relay.js';
import { until } from '../helpers/wait.js';
import { relayContract } from './relay-contract.js';

relayContract({
  protocol: 'udp',
  backend: (t: TestContext, name: string) => datagramBackend(t, name),
  async client(t, port) {
    const c = await datagramClient(t, port);
    return {
      ask: async (text) => (await c.ask(text)).toString(),
      close: () => Promise.resolve(c.close()),
    };
  },
  async notServed(t, port, text, counted) {
    const c = await datagramClient(t, port);
    await c.send(text);
    await until(counted);
    c.close();
  },
  atCapacity: 'evict',
  totalLimitKey: 'maxSessions',
  drainEnds: 'at-deadline',
});
