// A reference for the miss path (a child process): the least a Node.js caching proxy does on a
// miss. It forwards the GET through an undici Pool (as the edge does, 128 connections), keeps the
// body in a Map, and answers with the origin's status, content type, length and Cache-Control.
// No policy, no headers rewriting, no logging, no metrics: the ceiling for a single-process
// Node.js proxy that stores what it fetches.
//
//   node dist/loadtest/bare-proxy.js --origin http://127.0.0.1:PORT

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { serveUntilSignal } from './child-server.js';

const { values } = parseArgs({ options: { origin: { type: 'string' } }, strict: true });
if (!values.origin) throw new Error('--origin URL is required');
const pool = new Pool(values.origin, { connections: 128, pipelining: 1 });
const stored = new Map<string, Buffer>();
const maxObjects = 100_000;

const server = createServer((req, res) => {
  pool
    .request({ method: 'GET', path: req.url ?? '/', headers: { host: req.headers.host ?? '' } })
    .then(async (up) => {
      const chunks: Buffer[] = [];
      for await (const chunk of up.body as AsyncIterable<Buffer>) chunks.push(chunk);
      const body = Buffer.concat(chunks);
      if (stored.size >= maxObjects) stored.clear();
      stored.set(req.url ?? '/', body);
      res.writeHead(up.statusCode, {
        'content-type': String(up.headers['content-type'] ?? 'application/octet-stream'),
        'content-length': String(body.length),
        'cache-control': String(up.headers['cache-control'] ?? ''),
      });
      res.end(body);
    })
    .catch((err: unknown) => {
      // The bench counts a 502 as an error (wrk's non-2xx count), which is all it needs to know.
      res.writeHead(502, { 'content-length': '0' }).end();
      process.stderr.write(`bare-proxy: ${String(err)}\n`);
    });
});
await serveUntilSignal(server, 'bare-proxy');
await pool.close();
