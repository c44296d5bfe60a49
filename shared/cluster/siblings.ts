// Siblings: the worker processes of one node as one cache. Each cache key has an owner worker
// (rendezvous hashing over the worker indices, as an edge picks a shield). A worker that misses
// a key it does not own fills it from the owner over the owner's local socket, so the node
// makes one upstream request per object whichever worker a client reached; it keeps a copy in
// its own memory tier (hits stay local), and only the owner writes the key to its disk tier.
// The hop is not a tier: no Via or CDN-Loop entry of its own, the client's request passed on as
// the worker would have sent it upstream, one Cache-Status member, the request counted once.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StrataConfig } from '../config/config.js';
import type { Service } from '../service.js';
import { PeerHealth } from '../http/health.js';
import { http1Options } from '../http/http-listener.js';
import type { ListenerInfo } from '../http/context.js';
import { hash32, rendezvousOwner } from '../http/select.js';
import { Peer, upstreamOptions } from '../http/upstream.js';

/** Where a worker sits in its node: its index, how many workers there are, and the folder of their sockets. */
export interface WorkerPlace {
  index: number;
  count: number;
  /** A folder only the node's processes use (made by the primary, mode 0700). */
  dir: string;
}

/** The request field that carries the client's scheme over the hop (and marks nothing else). */
export const hopSchemeField = 'strata-worker-scheme';

/**
 * A sibling restarting is back within a second or two: its circuit opens for this long (the
 * request goes upstream itself meanwhile), not for upstream.health.openFor.
 */
const siblingOpenMs = 1000;

export function siblingSocket(dir: string, index: number): string {
  return join(dir, `worker-${index}.sock`);
}

/** The owner of a cache key among `count` workers (the same answer in every worker). */
export class Ownership {
  private readonly seeds: Uint32Array;

  constructor(count: number) {
    this.seeds = Uint32Array.from({ length: count }, (_, i) => hash32(`worker-${i}`));
  }

  owner(key: string): number {
    return rendezvousOwner(hash32(key), this.seeds);
  }
}

export class Siblings {
  readonly ownership: Ownership;
  /** The other workers as peers, by index (this worker's own slot is empty). */
  private readonly peers: (Peer | undefined)[];

  constructor(
    readonly place: WorkerPlace,
    config: StrataConfig,
  ) {
    this.ownership = new Ownership(place.count);
    const options = upstreamOptions(config.upstream);
    this.peers = Array.from({ length: place.count }, (_, i) =>
      i === place.index
        ? undefined
        : new Peer(`http://worker-${i}`, 'worker', new PeerHealth({ failures: 1, openMs: siblingOpenMs }), {
            ...options,
            socketPath: siblingSocket(place.dir, i),
          }),
    );
  }

  /** Whether this worker owns the key (keeps it on its disk tier). */
  owns = (key: string): boolean => this.ownership.owner(key) === this.place.index;

  /** The sibling that owns the key, or undefined when this worker does. */
  ownerOf(key: string): Peer | undefined {
    return this.peers[this.ownership.owner(key)];
  }

  async close(deadlineMs: number): Promise<void> {
    await Promise.all(this.peers.map((p) => p?.close(deadlineMs)));
  }
}

/** What a request over the hop is to the owner: a client request already through its worker's checks. */
const hopListeners: Record<'http' | 'https', ListenerInfo> = {
  http: { name: 'worker', scheme: 'http', hop: true },
  https: { name: 'worker', scheme: 'https', hop: true },
};

/** The owner's end of the hop: an HTTP/1.1 server on the worker's socket, feeding its pipeline. */
export class SiblingListener implements Service {
  readonly name = 'sibling-listener';
  private readonly server: Server;
  private readonly path: string;

  constructor(
    place: WorkerPlace,
    config: StrataConfig,
    private readonly siblings: Siblings,
    handler: (req: IncomingMessage, res: ServerResponse, listener: ListenerInfo) => void,
  ) {
    this.path = siblingSocket(place.dir, place.index);
    this.server = createServer(http1Options(config.server), (req, res) => {
      const scheme = req.headers[hopSchemeField] === 'https' ? 'https' : 'http';
      handler(req, res, hopListeners[scheme]);
    });
  }

  async start(): Promise<void> {
    // A socket file left by this worker's predecessor (killed) would refuse the bind.
    rmSync(this.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops taking hops (siblings then fill upstream themselves) and lets the ones in flight finish. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.server.listening) {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      const timer = setTimeout(() => this.server.closeAllConnections(), Math.max(0, deadlineMs - Date.now()));
      await closed;
      clearTimeout(timer);
    }
    await this.siblings.close(deadlineMs);
  }
}
