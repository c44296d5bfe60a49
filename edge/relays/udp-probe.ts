// The active health probe of a UDP backend: a datagram sent, and a reply that contains the
// expected bytes within the timeout (any reply when nothing is expected).

import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { RelayBackend } from './backends.js';

export interface UdpProbeConfig {
  send: string;
  expect?: string;
  encoding: 'utf8' | 'hex';
}

export function udpProbe(backend: RelayBackend, probe: UdpProbeConfig, timeoutMs: number): Promise<boolean> {
  const payload = Buffer.from(probe.send, probe.encoding);
  const expected = probe.expect === undefined ? undefined : Buffer.from(probe.expect, probe.encoding);
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(backend.host) ? 'udp6' : 'udp4');
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    // ICMP port unreachable (ECONNREFUSED) or a name that does not resolve: the probe failed.
    socket.once('error', () => done(false));
    socket.on('message', (reply) => {
      if (!expected || reply.includes(expected)) done(true);
    });
    socket.connect(backend.port, backend.host, () => socket.send(payload));
  });
}
