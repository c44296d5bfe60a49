// Siblings: the worker processes of one node as one cache. Each cache key has an owner worker
// (rendezvous hashing over the worker indices, as an edge picks a shield). A worker that misses
// a key it does not own fills it from the owner over the owner's local socket, so the node
// makes one upstream request per object whichever worker a client reached; it keeps a copy in
// its own memory tier (hits stay local), and only the owner writes the key to its disk tier.
// The hop is not a tier: no Via or CDN-Loop entry of its own, the client's request passed on as
// the worker would have sent it upstream, one Cache-Status member, the request counted once.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { renameSync, rmSync } from 'node:fs';
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
  /**
   * This worker replaces one that is handing over (a reload without a disk tier): it fills the
   * keys it owns from its predecessor's memory tier while that one is there (retiringSocket).
   */
  predecessor?: boolean;
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

/** Where a worker being replaced answers its successor (its own socket is the successor's now). */
export function retiringSocket(dir: string, index: number): string {
  return join(dir, `worker-${index}.retiring.sock`);
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
  /** The worker this one replaces, while it hands over (WorkerPlace.predecessor). */
  private predecessor: Peer | undefined;

  constructor(
    readonly place: WorkerPlace,
    config: StrataConfig,
  ) {
    this.ownership = new Ownership(place.count);
    const options = upstreamOptions(config.upstream);
    const peer = (name: string, socketPath: string) =>
      new Peer(`http://${name}`, 'worker', new PeerHealth({ failures: 1, openMs: siblingOpenMs }), {
        ...options,
        socketPath,
      });
    this.peers = Array.from({ length: place.count }, (_, i) =>
      i === place.index ? undefined : peer(`worker-${i}`, siblingSocket(place.dir, i)),
    );
    if (place.predecessor)
      this.predecessor = peer(`worker-${place.index}-predecessor`, retiringSocket(place.dir, place.index));
  }

  /** Whether this worker owns the key (keeps it on its disk tier). */
  owns = (key: string): boolean => this.ownership.owner(key) === this.place.index;

  /**
   * Where a fill of `key` goes before upstream: the worker that owns it; for a key this worker
   * owns, its predecessor while that one hands over. A fill that came over the hop (`hop`) goes
   * to no other owner: hops never chain.
   */
  fillFrom(key: string, hop: boolean): Peer | undefined {
    const owner = this.ownership.owner(key);
    if (owner === this.place.index) return this.predecessor;
    return hop ? undefined : this.peers[owner];
  }

  /** The worker at `index` has (re)started: fills go to it again at once, not after its circuit's second. */
  siblingReady(index: number): void {
    this.peers[index]?.health.succeeded();
  }

  /** The predecessor has gone (or this worker is handing over itself): no more fills from it. */
  forgetPredecessor(): void {
    const gone = this.predecessor;
    this.predecessor = undefined;
    void gone?.close(Date.now());
  }

  async close(deadlineMs: number): Promise<void> {
    this.forgetPredecessor();
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
  private readonly servers: Server[] = [];
  /** Set by retire(): answers on this worker's own socket close their connections. */
  private handedOver = false;
  private readonly serve: (req: IncomingMessage, res: ServerResponse) => void;

  constructor(
    private readonly place: WorkerPlace,
    private readonly config: StrataConfig,
    private readonly siblings: Siblings,
    handler: (req: IncomingMessage, res: ServerResponse, listener: ListenerInfo) => void,
  ) {
    this.serve = (req, res) => {
      const scheme = req.headers[hopSchemeField] === 'https' ? 'https' : 'http';
      handler(req, res, hopListeners[scheme]);
    };
  }

  start(): Promise<void> {
    return this.listen(siblingSocket(this.place.dir, this.place.index));
  }

  /**
   * Hands over to the worker replacing this one, which takes this socket's path: answers on the
   * retiring path from now on too, and asks no predecessor of its own.
   */
  retire(): Promise<void> {
    this.siblings.forgetPredecessor();
    // The other workers' pooled connections to this socket would keep sending it their fills:
    // idle ones close now, busy ones after their answer, and new ones reach the successor.
    this.handedOver = true;
    for (const server of this.servers) server.closeIdleConnections();
    return this.listen(retiringSocket(this.place.dir, this.place.index), (req, res) => {
      // Only what is stored: the successor runs the new config, and fetches the rest itself.
      const cc = req.headers['cache-control'];
      req.headers['cache-control'] = cc ? `${cc}, only-if-cached` : 'only-if-cached';
      this.serve(req, res);
    });
  }

  /**
   * Listens at `path`, bound under a name of this process's and renamed into place: a socket
   * file is unlinked by name when its server closes, and a worker replaced on a reload closes
   * after its successor took the path over. The rename also replaces a file left by a worker
   * that was killed.
   */
  private async listen(path: string, serve = this.serve): Promise<void> {
    const own = `${path}.${process.pid}`;
    rmSync(own, { force: true });
    const retiring = this.handedOver;
    const server = createServer(http1Options(this.config.server), (req, res) => {
      if (this.handedOver && !retiring) res.shouldKeepAlive = false;
      serve(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(own, () => {
        server.off('error', reject);
        resolve();
      });
    });
    renameSync(own, path);
    this.servers.push(server);
  }

  /** Stops taking fills (siblings then fill upstream themselves) and lets the ones in flight finish. */
  async stop(deadlineMs: number): Promise<void> {
    await Promise.all(this.servers.map((server) => closeServer(server, deadlineMs)));
    await this.siblings.close(deadlineMs);
  }
}

async function closeServer(server: Server, deadlineMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), Math.max(0, deadlineMs - Date.now()));
  await closed;
  clearTimeout(timer);
}
