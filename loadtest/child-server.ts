// Runs a bench child's HTTP server: binds 127.0.0.1 on an ephemeral port, announces the port on
// stdout as one JSON line ({"msg":"listening","port":N}) and closes on SIGTERM or SIGINT.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Resolves when the server has stopped after a signal. */
export async function serveUntilSignal(server: Server, name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', name, port, pid: process.pid })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
