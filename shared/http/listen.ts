// Listening addresses: "host:port" strings from config, and binding a server with errors that name them.

import type { Server } from 'node:net';

export function parseHostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  const host = value.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(value.slice(i + 1)) };
}

/** Listens and resolves with the bound port (useful with port 0). */
export function listen(server: Server, address: string): Promise<number> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${address}: ${listenProblem(err)}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound ? bound.port : port);
    });
  });
}

/** Why a listen failed, in the same words whether the process bound the port or its cluster primary did. */
function listenProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'the address is already in use (EADDRINUSE)';
    case 'EACCES':
      return 'permission denied (EACCES; ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'no such address on this machine (EADDRNOTAVAIL)';
    default:
      return err.message;
  }
}

/** Formats host and port as a URL authority. */
export function authority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
