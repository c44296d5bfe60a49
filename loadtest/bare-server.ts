// The reference server (a child process): a bare node:http server that answers each path with
// bytes held in memory and a fixed header list, and does nothing else. It is the ceiling for any
// single-process Node.js server answering the same response.
//
//   node dist/loadtest/bare-server.js --spec FILE     (FILE: a BareSpec as JSON)

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { serveUntilSignal } from './child-server.js';

/** What the bare server answers; written by bench.ts from a real edge hit. */
export interface BareSpec {
  v: 1;
  responses: { path: string; status: number; headers: string[]; bodyFile: string }[];
}

const { values } = parseArgs({ options: { spec: { type: 'string' } }, strict: true });
if (!values.spec) throw new Error('--spec FILE is required');
const spec = JSON.parse(readFileSync(values.spec, 'utf8')) as BareSpec;
if (spec.v !== 1) throw new Error(`bare spec version ${String(spec.v)} is not known (expected 1)`);

const responses = new Map(
  spec.responses.map((r) => [
    r.path,
    { status: r.status, headers: r.headers, body: readFileSync(r.bodyFile) },
  ]),
);

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const r = responses.get(req.url ?? '');
  if (!r) {
    res.writeHead(404, { 'content-length': '0' }).end();
    return;
  }
  res.writeHead(r.status, r.headers);
  res.end(r.body);
});
await serveUntilSignal(server, 'bare');
