#!/usr/bin/env node
// The relay bench's load generator, one process per run: TCP downloads over N connections
// (MiB/s received), or UDP ping-pong from N sockets with W datagrams in flight each (replies
// per second). Bounded by --duration; prints one JSON line (`total`: bytes or replies including
// the warm-up, for CPU per unit). Loopback only.
// Usage: relay-load.js tcp|udp PORT CONNECTIONS DURATION_MS [WINDOW] [BYTES]

import { connect, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';

const [mode, portText, countText, durationText, windowText = '8', bytesText = '512'] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const durationMs = Number(durationText);
/** Unmeasured time first, so that connections are open and buffers warm. */
const warmupMs = 500;

function report(measured: number, seconds: number, extra: Record<string, number> = {}): void {
  console.log(JSON.stringify({ msg: 'load done', mode, measured, seconds, ...extra }));
}

async function tcp(): Promise<void> {
  let bytes = 0;
  let total = 0;
  let counting = false;
  let errors = 0;
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (counting) bytes += chunk.length;
    });
    socket.on('error', () => errors++);
    sockets.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  counting = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  counting = false;
  const seconds = (performance.now() - start) / 1000;
  for (const s of sockets) s.destroy();
  report(bytes, seconds, { total, errors, mibPerSecond: bytes / 1024 / 1024 / seconds });
}

async function udp(): Promise<void> {
  const window = Number(windowText);
  const payload = Buffer.alloc(Number(bytesText), 'u');
  let replies = 0;
  let total = 0;
  let counting = false;
  let resent = 0;
  let running = true;
  const sockets: UdpSocket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
    let inFlight = 0;
    let lastReplyMs = performance.now();
    socket.on('message', () => {
      total++;
      if (counting) replies++;
      lastReplyMs = performance.now();
      inFlight--;
      if (running) {
        inFlight++;
        socket.send(payload);
      }
    });
    socket.on('error', () => {});
    // A datagram lost on the way (a full socket buffer) would stall the window: top it up.
    const refill = setInterval(() => {
      if (running && performance.now() - lastReplyMs > 100) {
        resent += window - Math.max(0, inFlight);
        for (inFlight = 0; inFlight < window; inFlight++) socket.send(payload);
        lastReplyMs = performance.now();
      }
    }, 100);
    refill.unref();
    for (; inFlight < window; inFlight++) socket.send(payload);
    sockets.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  counting = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  counting = false;
  running = false;
  const seconds = (performance.now() - start) / 1000;
  for (const s of sockets) s.close();
  report(replies, seconds, { total, resent, packetsPerSecond: replies / seconds });
}

await (mode === 'tcp' ? tcp() : udp());
process.exit(0);
