// Relays for tests: a node's Relays service started from a relays config in the YAML shape
// (validated by the real schema), its access-log lines captured, and line/datagram backends
// that answer "NAME:REQUEST" so a test sees which backend answered.

import type { TestContext } from 'node:test';
import { createServer, connect, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { validateConfig } from '../../shared/config/config.js';
import { Relays } from '../../edge/relays/relays.js';
import type { Relay } from '../../edge/relays/relay.js';

export interface TestRelays {
  relays: Relays;
  /** The first relay of the config. */
  relay: Relay;
  port: number;
  registry: Registry;
  /** Access-log lines (msg "relay") written so far. */
  lines: Record<string, unknown>[];
  /** Warnings and errors the relays logged. */
  logged: Record<string, unknown>[];
  /** Stops the relays (once; later calls wait for the same stop). */
  stop(deadlineMs?: number): Promise<void>;
}

/** A manual clock for relays (health circuits, UDP expiry and rate limits). */
export class RelayClock {
  nowMs = Date.now();
  now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** Starts relays from `relays` (the config's relays section); stopped after the test. */
export async function startRelays(
  t: TestContext,
  relays: Record<string, unknown>,
  clock: RelayClock = new RelayClock(),
): Promise<TestRelays> {
  const { config, problems } = validateConfig({
    sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
    relays,
  });
  if (!config) throw new Error(`test relays config invalid: ${JSON.stringify(problems)}`);
  const lines: Record<string, unknown>[] = [];
  const logged: Record<string, unknown>[] = [];
  const sink = (into: Record<string, unknown>[]) => ({
    write: (line: string) => void into.push(JSON.parse(line) as Record<string, unknown>),
  });
  const registry = new Registry();
  const service = new Relays(config.relays, {
    log: pino({ level: 'warn' }, sink(logged)),
    accessLog: pino({ level: 'info' }, sink(lines)),
    now: clock.now,
    registry,
  });
  await service.start();
  let stopped: Promise<void> | undefined;
  const stop = (deadlineMs = Date.now() + 200) => (stopped ??= service.stop(deadlineMs));
  t.after(() => stop());
  const relay = service.list[0];
  return { relays: service, relay, port: relay.port, registry, lines, logged, stop };
}

export interface TestBackend {
  name: string;
  /** host:port for a relay's backends. */
  address: string;
  port: number;
  /** Requests (lines or datagrams) received. */
  requests: number;
  stop(): Promise<void>;
}

/** A TCP backend that answers every line "X" with "NAME:X". */
export async function lineBackend(t: TestContext, name: string, host = '127.0.0.1'): Promise<TestBackend> {
  const sockets = new Set<Socket>();
  const backend: TestBackend = { name, address: '', port: 0, requests: 0, stop: async () => {} };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        backend.requests++;
        socket.write(`${name}:${pending.slice(0, nl)}\n`);
        pending = pending.slice(nl + 1);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  backend.port = (server.address() as { port: number }).port;
  backend.address = host.includes(':') ? `[${host}]:${backend.port}` : `${host}:${backend.port}`;
  let stopped: Promise<void> | undefined;
  backend.stop = () =>
    (stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }));
  t.after(() => backend.stop());
  return backend;
}

/** A UDP backend that answers every datagram "X" with "NAME:X". */
export async function datagramBackend(
  t: TestContext,
  name: string,
  host = '127.0.0.1',
): Promise<TestBackend & { socket: UdpSocket }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const backend = { name, address: '', port: 0, requests: 0, socket, stop: async () => {} };
  socket.on('message', (datagram, from) => {
    backend.requests++;
    socket.send(Buffer.concat([Buffer.from(`${name}:`), datagram]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  backend.port = socket.address().port;
  backend.address = host.includes(':') ? `[${host}]:${backend.port}` : `${host}:${backend.port}`;
  let stopped: Promise<void> | undefined;
  backend.stop = () => (stopped ??= new Promise<void>((resolve) => socket.close(() => resolve())));
  t.after(() => backend.stop());
  return backend;
}

/** A TCP client of a line protocol: one line out, one line back. */
export interface LineClient {
  socket: Socket;
  ask(text: string): Promise<string>;
  /** Resolves once the connection has closed (the relay or the backend ended it). */
  closed: Promise<void>;
}

export async function lineClient(port: number, host = '127.0.0.1'): Promise<LineClient> {
  const socket = connect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  let pending = '';
  const waiting: ((line: string) => void)[] = [];
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) !== -1) {
      waiting.shift()?.(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    ask(text) {
      return new Promise((resolve, reject) => {
        waiting.push(resolve);
        socket.write(`${text}\n`);
        void closed.then(() => reject(new Error(`closed before the reply to "${text}"`)));
      });
    },
  };
}

/** A UDP client with its own socket (its own session): one datagram out, one back. */
export interface DatagramClient {
  socket: UdpSocket;
  ask(text: string | Buffer): Promise<Buffer>;
  /** Sends without waiting for a reply. */
  send(text: string | Buffer): Promise<void>;
  close(): void;
}

export async function datagramClient(
  t: TestContext,
  port: number,
  host = '127.0.0.1',
): Promise<DatagramClient> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.connect(port, host, resolve));
  socket.on('error', () => {});
  const waiting: ((d: Buffer) => void)[] = [];
  socket.on('message', (d) => waiting.shift()?.(d));
  let closed = false;
  const close = () => {
    if (!closed) socket.close();
    closed = true;
  };
  t.after(close);
  const send = (text: string | Buffer) =>
    new Promise<void>((resolve, reject) => socket.send(text, (err) => (err ? reject(err) : resolve())));
  return {
    socket,
    send,
    close,
    ask(text) {
      const reply = new Promise<Buffer>((resolve) => waiting.push(resolve));
      return send(text).then(() => reply);
    },
  };
}

/**
 * A TCP address where connecting hangs: a child process listens with a backlog of 1 and never
 * accepts (its event loop is blocked); two connections made here fill the queue, after which
 * the kernel drops new SYNs, as a firewalled or overloaded backend does.
 */
export async function unresponsiveBackend(t: TestContext): Promise<string> {
  const script = `const s = require('node:net').createServer();
s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(s.address().port + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
});`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  const port = Number(
    await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d)))),
  );
  const fillers: Socket[] = [];
  t.after(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 2; i++) {
    const s = connect(port, '127.0.0.1');
    fillers.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
  }
  return `127.0.0.1:${port}`;
}
