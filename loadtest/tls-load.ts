// The TLS bench's load generator (a child process, pinned to the generator CPU): one load of one
// kind for a fixed time, then one JSON line with what it counted.
//
//   node dist/loadtest/tls-load.js handshake --port P --servername N --ca FILE [--resume]
//   node dist/loadtest/tls-load.js http1 --url URL [--ca FILE --servername N] --path /obj/1024
//   node dist/loadtest/tls-load.js http2 --url URL --ca FILE --servername N --path /obj/1024
//   node dist/loadtest/tls-load.js ws --url URL [--host H] [--bytes 64]
// Common: --seconds S (default 5), --concurrency C (default 32: connections, streams or sockets).

import { readFileSync } from 'node:fs';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import WebSocket from 'ws';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  strict: true,
  options: {
    port: { type: 'string' },
    url: { type: 'string' },
    servername: { type: 'string' },
    ca: { type: 'string' },
    path: { type: 'string', default: '/obj/1024' },
    host: { type: 'string', default: 'bench.test' },
    bytes: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    resume: { type: 'boolean', default: false },
  },
});

const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const ca = values.ca ? readFileSync(values.ca, 'utf8') : undefined;

interface Counted {
  /** Completed operations (handshakes, responses, echoed messages). */
  done: number;
  errors: number;
  /** Responses whose Cache-Status was not a hit (the bench wants hits only). */
  notHit: number;
  /** Handshakes that resumed a session. */
  resumed: number;
}

/** Runs `worker` on `concurrency` lanes until the deadline; each lane loops while time is left. */
async function lanes(worker: (count: Counted, deadline: number) => Promise<void>): Promise<Counted> {
  const count: Counted = { done: 0, errors: 0, notHit: 0, resumed: 0 };
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, () => worker(count, deadline)));
  return count;
}

/** TLS handshakes, each a new connection: full, or resuming the first session's ticket. */
async function handshakes(): Promise<Counted> {
  const port = Number(values.port);
  let session: Buffer | undefined;
  if (values.resume) {
    // One full handshake to get a ticket (TLS 1.3 sends it after the handshake).
    session = await new Promise<Buffer>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: values.servername, ca });
      s.once('session', (t: Buffer) => {
        resolve(t);
        s.end();
      });
      s.once('error', reject);
    });
  }
  return lanes(async (count, deadline) => {
    while (performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port, servername: values.servername, ca, session });
        s.once('secureConnect', () => {
          count.done++;
          if (s.isSessionReused()) count.resumed++;
          s.end();
        });
        s.once('close', () => resolve());
        s.once('error', () => {
          count.errors++;
          s.destroy();
        });
      });
    }
  });
}

function countResponse(count: Counted, status: number, cacheStatus: unknown): void {
  if (status !== 200) count.errors++;
  else {
    count.done++;
    if (!/; hit/.test(String(cacheStatus))) count.notHit++;
  }
}

/** GETs of one cached object over HTTP/1.1 keep-alive connections (plain or TLS). */
async function http1(): Promise<Counted> {
  const pool = new Pool(values.url!, {
    connections: concurrency,
    pipelining: 1,
    connect: ca ? { ca, servername: values.servername } : undefined,
  });
  const count = await lanes(async (c, deadline) => {
    while (performance.now() < deadline) {
      try {
        const res = await pool.request({
          method: 'GET',
          path: values.path!,
          headers: { host: values.host! },
        });
        await res.body.dump();
        countResponse(c, res.statusCode, res.headers['cache-status']);
      } catch {
        c.errors++;
      }
    }
  });
  await pool.close();
  return count;
}

/** GETs of one cached object as HTTP/2 streams: `concurrency` streams over 4 connections. */
async function http2(): Promise<Counted> {
  const sessions: ClientHttp2Session[] = Array.from({ length: 4 }, () =>
    h2connect(values.url!, { ca, servername: values.servername }),
  );
  let next = 0;
  const count = await lanes(async (c, deadline) => {
    const session = sessions[next++ % sessions.length];
    while (performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const req = session.request({ ':path': values.path!, ':authority': values.host! });
        let status = 0;
        let cacheStatus: unknown;
        req.on('response', (h) => {
          status = Number(h[':status']);
          cacheStatus = h['cache-status'];
        });
        req.on('data', () => undefined);
        req.on('end', () => {
          countResponse(c, status, cacheStatus);
          resolve();
        });
        req.on('error', () => {
          c.errors++;
          resolve();
        });
        req.end();
      });
    }
  });
  for (const s of sessions) s.close();
  return count;
}

/** Echo round trips: `concurrency` WebSockets, each with one message in flight at a time. */
async function ws(): Promise<Counted> {
  const message = Buffer.alloc(Number(values.bytes), 'm');
  const sockets = await Promise.all(
    Array.from(
      { length: concurrency },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const s = new WebSocket(values.url!, { headers: { host: values.host! }, perMessageDeflate: false });
          s.once('open', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  let i = 0;
  const count = await lanes(async (c, deadline) => {
    const s = sockets[i++];
    while (performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        s.once('message', () => {
          c.done++;
          resolve();
        });
        s.send(message);
      });
    }
  });
  for (const s of sockets) s.close();
  return count;
}

const kinds: Record<string, () => Promise<Counted>> = { handshake: handshakes, http1, http2, ws };
const run = kinds[positionals[0] ?? ''];
if (!run)
  throw new Error(`tls-load: unknown kind ${positionals[0]}; one of ${Object.keys(kinds).join(', ')}`);
const cpuBefore = process.cpuUsage();
const count = await run();
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(
  `${JSON.stringify({
    msg: 'result',
    kind: positionals[0],
    perSecond: count.done / seconds,
    ...count,
    generatorCpu: (cpu.user + cpu.system) / 1e6 / seconds,
  })}\n`,
);
// The pools and sockets are closed; anything left (a straggling socket) must not hold the exit.
process.exit(0);
