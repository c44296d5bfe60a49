// strata demo: one local region on an embedded default config: a demo origin, an origin
// shield in front of it, and two edges that fetch their misses from the shield.

import { MemoryLog } from '../purge/memory-log.js';
import { validateConfig } from '../config/config.js';
import { StrataNode } from '../node.js';
import type { NodeRole } from '../node-role.js';
import { edgeRole } from '../../edge/edge-role.js';
import { shieldRole } from '../../shield/shield-role.js';
import { DemoOrigin, demoRoutes } from './demo-origin.js';

export interface DemoOptions {
  /** The first edge's port; the second edge takes the next one (0: both ephemeral). */
  port: number;
  /** The first edge's admin port; the second edge and the shield take the next two. */
  adminPort: number;
  shieldPort: number;
  originPort: number;
}

/** The demo's purge API token: a demo on loopback, not a secret. */
export const demoPurgeToken = 'strata-demo-purge-token';

/** `port + i`, or 0 (ephemeral) for every node when the base is 0. */
const nth = (port: number, i: number) => (port === 0 ? 0 : port + i);

/** Starts the demo; resolves with a function that stops it. */
export async function runDemo(options: DemoOptions): Promise<() => Promise<void>> {
  const origin = new DemoOrigin();
  const originPort = await origin.start(`127.0.0.1:${options.originPort}`);
  const originUrl = `http://127.0.0.1:${originPort}`;
  const nodes: StrataNode[] = [];
  // One in-process purge log for the region, as Redis would be for a fleet: a purge sent to any
  // node's admin API reaches all three.
  const purgeLog = new MemoryLog(24 * 3600_000);
  const stop = async () => {
    for (const node of nodes.reverse()) await node.stop();
    await origin.stop();
  };
  const start = async (id: string, role: NodeRole, port: number, adminPort: number, extra: object) => {
    const { config, problems } = validateConfig({
      node: { id, region: 'local' },
      listen: { http: `127.0.0.1:${port}`, admin: `127.0.0.1:${adminPort}` },
      sites: [{ hosts: ['*'], origins: [originUrl] }],
      cache: { memory: { maxBytes: '128MiB', maxObjectBytes: '16MiB' } },
      log: { level: 'info', access: true },
      purge: { token: demoPurgeToken },
      ...extra,
    });
    if (!config) throw new Error(`demo config invalid: ${JSON.stringify(problems)}`);
    const node = new StrataNode(config, { role, purgeLog });
    await node.start();
    nodes.push(node);
    return node;
  };
  let shield: StrataNode;
  let edges: StrataNode[];
  try {
    // The shield trusts the edges (loopback) to say who the client is.
    shield = await start('shield-demo', shieldRole, options.shieldPort, nth(options.adminPort, 2), {
      proxy: { trustedProxies: ['127.0.0.1'] },
    });
    const shields = [{ url: `http://127.0.0.1:${shield.http.port}` }];
    edges = [];
    for (const i of [0, 1])
      edges.push(
        await start(`edge-demo-${i + 1}`, edgeRole, nth(options.port, i), nth(options.adminPort, i), {
          shields,
        }),
      );
  } catch (err) {
    // Whatever started must stop, or the process would stay up holding its ports.
    await stop();
    throw err;
  }
  const url = (node: StrataNode) => `http://127.0.0.1:${node.http.port}`;
  const line = (node: StrataNode, about: string) =>
    `  ${node.config.node.id.padEnd(12)} ${url(node).padEnd(24)} admin http://127.0.0.1:${node.admin.port}  ${about}`;
  const [one, two] = edges.map(url);
  const routes = Object.entries(demoRoutes)
    .map(([path, r]) => `  ${(one + path).padEnd(40)} ${r.about}`)
    .join('\n');
  process.stderr.write(`
Strata demo is running: one region on this machine.
${line(edges[0], 'edge: clients connect here')}
${line(edges[1], 'edge: a second one, same site')}
${line(shield, 'origin shield: the edges fetch their misses here')}
  ${'origin'.padEnd(12)} ${originUrl}

Routes (on either edge):
${routes}

Try:
  curl -si ${one}/cacheable | grep -i -e cache-status -e age    # miss at the shield and the edge
  curl -si --connect-to ::${two.slice(7)} ${one}/cacheable | grep -i -e cache-status -e age
      # the same URL through the other edge, as DNS would send another client: a hit at the shield
  curl -si ${one}/uncacheable | grep -i cache-status
  for i in 1 2 3; do curl -s ${one}/slow & curl -s --connect-to ::${two.slice(7)} ${one}/slow & done; wait
      # six clients on two edges: one origin request
  curl -s -o /dev/null ${one}/large; curl -si -H 'Range: bytes=0-99' ${one}/large | head -5   # 206 from cache
  curl -si -H 'Accept-Language: fr' ${one}/vary
  curl -s http://127.0.0.1:${edges[0].admin.port}/metrics | grep strata_requests_total
  node dist/shared/cli/strata.js purge --api http://127.0.0.1:${edges[0].admin.port} --token ${demoPurgeToken} --wait 2s ${one}/cacheable
      # purged on all three nodes (each says what it did); the next request is a miss again

Access logs of all three nodes follow as JSON lines on stdout (the "node" field says which).
Ctrl-C stops the demo.
`);
  return stop;
}
