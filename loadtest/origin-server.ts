// Bench origin (a child process): GET /obj/<bytes>[/anything] answers 200 with <bytes> deterministic
// bytes, cacheable for an hour, after a fixed delay. The same body for every path of one size, so
// unique paths make unique cache keys without changing what is sent. GET /__count answers how
// many /obj requests it has served (the tier bench's origin offload).
//
//   node dist/loadtest/origin-server.js [--delay-ms 5]

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { serveUntilSignal } from './child-server.js';
import { benchBody } from './bench-body.js';

const { values } = parseArgs({ options: { 'delay-ms': { type: 'string', default: '0' } }, strict: true });
const delayMs = Number(values['delay-ms']);
if (!Number.isFinite(delayMs) || delayMs < 0)
  throw new Error(`--delay-ms: not a delay: ${values['delay-ms']}`);

const maxBytes = 16 * 1024 * 1024;
const lastModified = new Date(Date.UTC(2026, 0, 1)).toUTCString();
const bodies = new Map<number, Buffer>();
let served = 0;

function respond(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/__count') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ requests: served }));
    return;
  }
  const m = /^\/obj\/(\d+)(?:[/?]|$)/.exec(req.url ?? '');
  const size = m ? Number(m[1]) : NaN;
  if (!(size >= 0 && size <= maxBytes) || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10' }).end('not found\n');
    return;
  }
  served++;
  let body = bodies.get(size);
  if (!body) bodies.set(size, (body = benchBody(size)));
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(size),
    'cache-control': 'public, max-age=3600',
    etag: `"bench-${size}"`,
    'last-modified': lastModified,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const server = createServer(
  { keepAliveTimeout: 60_000 },
  delayMs > 0 ? (req, res) => void setTimeout(respond, delayMs, req, res) : respond,
);
await serveUntilSignal(server, 'origin');
