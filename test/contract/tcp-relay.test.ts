// The relay contract, run against the TCP relay: line clients over real connections.

import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { lineBackend, lineClient } from '../helpers/relay.js';
import { relayContract } from './relay-contract.js';

/** Connects, sends a line, and resolves with every byte received before the connection ended. */
function attempt(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {}); // refused or reset: the close below still comes
    socket.setEncoding('utf8').on('data', (chunk: string) => (got += chunk));
    socket.on('connect', () => socket.write(`${text}\n`));
    socket.once('close', () => resolve(got));
  });
}

relayContract({
  protocol: 'tcp',
  backend: (t: TestContext, name: string) => lineBackend(t, name),
  async client(t, port) {
    const c = await lineClient(port);
    t.after(() => c.socket.destroy());
    return {
      ask: (text) => c.ask(text),
      async close() {
        c.socket.end();
        await c.closed;
      },
    };
  },
  async notServed(_t, port, text) {
    assert.equal(await attempt(port, text), '', 'closed without a reply');
  },
  atCapacity: 'refuse',
  totalLimitKey: 'maxConnections',
  drainEnds: 'when-clients-close',
});
