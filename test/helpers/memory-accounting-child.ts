// Child process of the memory accounting test: fills an in-process edge's memory tier through
// real requests to a real origin, then compares what the store accounts per object with what
// the objects really cost (heap and external memory, after full garbage collections).
// Usage: node --expose-gc memory-accounting-child.js run   (one JSON line per object shape;
// does nothing without arguments, since the test runner also loads the files in test/)

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Pool } from 'undici';
import { validateConfig } from '../../shared/config/config.js';
import { StrataNode } from '../../shared/node.js';
import { edgeRole } from '../../edge/edge-role.js';

if (process.argv[2] === 'run') await main();

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');

  /** Object shapes: body size and the number of extra response fields (and tags) an origin adds. */
  const shapes = [
    { name: '1 KiB, 6 fields', body: 1024, extra: 0, tags: 0 },
    { name: '1 KiB, 20 fields, 3 tags', body: 1024, extra: 14, tags: 3 },
    { name: '16 KiB, 10 fields', body: 16 * 1024, extra: 4, tags: 0 },
  ];
  const perShape = 3000;

  const origin = createServer((req, res) => {
    const [, , index] = (req.url ?? '').split('/');
    const shape = shapes[Number(index)];
    const headers: Record<string, string> = {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'public, max-age=3600',
      etag: `"${req.url}"`,
      'last-modified': 'Thu, 01 Jan 2026 00:00:00 GMT',
    };
    for (let i = 0; i < shape.extra; i++) headers[`x-origin-field-${i}`] = `value ${i} of ${req.url}`;
    if (shape.tags > 0)
      headers['surrogate-key'] = Array.from({ length: shape.tags }, (_, i) => `tag-${i}-${req.url}`).join(
        ' ',
      );
    res.writeHead(200, { ...headers, 'content-length': shape.body });
    res.end(Buffer.alloc(shape.body, 7));
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

  const { config, problems } = validateConfig({
    node: { id: 'edge-memory' },
    listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    sites: [{ hosts: ['*'], origins: [originUrl] }],
    log: { level: 'silent', access: false },
  });
  if (!config) throw new Error(JSON.stringify(problems));
  const node = new StrataNode(config, { role: edgeRole, log: pino({ level: 'silent' }) });
  await node.start();
  const client = new Pool(`http://127.0.0.1:${node.http.port}`, { connections: 16 });

  async function fill(prefix: string, count: number): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const res = await client.request({ path: `${prefix}/${next++}`, method: 'GET' });
        await res.body.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  }

  function measure(): { heap: number; external: number; accounted: number } {
    gc!();
    gc!();
    const m = process.memoryUsage();
    return { heap: m.heapUsed, external: m.external, accounted: node.store.stats().bytes };
  }

  // Warm-up: code, pools, connections and the LRU's arrays exist before the first measurement.
  await fill('/w/0', perShape);
  for (const [index, shape] of shapes.entries()) {
    const before = measure();
    await fill(`/s/${index}`, perShape);
    const after = measure();
    process.stdout.write(
      `${JSON.stringify({
        index,
        shape: shape.name,
        heap: Math.round((after.heap - before.heap) / perShape),
        external: Math.round((after.external - before.external) / perShape),
        accounted: Math.round((after.accounted - before.accounted) / perShape),
      })}\n`,
    );
  }
  await client.close();
  await node.stop(1000);
  origin.close();
}
