// strata demo: a demo origin and an edge in front of it, on an embedded default config.

import { validateConfig } from '../config/config.js';
import { StrataNode } from '../node.js';
import { edgeRole } from '../../edge/edge-role.js';
import { DemoOrigin, demoRoutes } from './demo-origin.js';

export interface DemoOptions {
  port: number;
  adminPort: number;
  originPort: number;
}

/** Starts the demo; resolves with a function that stops it. */
export async function runDemo(options: DemoOptions): Promise<() => Promise<void>> {
  const origin = new DemoOrigin();
  const originPort = await origin.start(`127.0.0.1:${options.originPort}`);
  const { config, problems } = validateConfig({
    node: { id: 'edge-demo-1', region: 'local' },
    listen: { http: `127.0.0.1:${options.port}`, admin: `127.0.0.1:${options.adminPort}` },
    sites: [{ hosts: ['*'], origins: [`http://127.0.0.1:${originPort}`] }],
    cache: { memory: { maxBytes: '256MiB', maxObjectBytes: '16MiB' } },
    log: { level: 'info', access: true },
  });
  if (!config) throw new Error(`demo config invalid: ${JSON.stringify(problems)}`);
  const edge = new StrataNode(config, { role: edgeRole });
  try {
    await edge.start();
  } catch (err) {
    // The origin is already listening: stop it, or the process would stay up holding its port.
    await origin.stop();
    throw err;
  }
  const base = `http://127.0.0.1:${edge.http.port}`;
  const routes = Object.entries(demoRoutes)
    .map(([path, r]) => `  ${(base + path).padEnd(40)} ${r.about}`)
    .join('\n');
  process.stderr.write(`
Strata demo is running.
  edge     ${base}
  admin    http://127.0.0.1:${edge.admin.port}/metrics  (also /healthz, /readyz)
  origin   http://127.0.0.1:${originPort}

Routes:
${routes}

Try:
  curl -si ${base}/cacheable | grep -i -e cache-status -e age     # run twice: miss, then hit
  curl -si ${base}/uncacheable | grep -i cache-status
  for i in 1 2 3; do curl -s ${base}/slow & done; wait                # one origin request
  curl -s -o /dev/null ${base}/large; curl -si -H 'Range: bytes=0-99' ${base}/large | head -5   # 206 from cache
  curl -si -H 'Accept-Language: fr' ${base}/vary
  curl -s http://127.0.0.1:${edge.admin.port}/metrics | grep strata_requests_total

Access logs follow as JSON lines on stdout. Ctrl-C stops the demo.
`);
  return async () => {
    await edge.stop();
    await origin.stop();
  };
}
